import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Database, SqlExecutor } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  capacityMigrations,
  CompletedQuotaReservation,
  PostgresQuotaLedger,
  PostgresQuotaSagaLog,
  QuotaCache,
  QuotaParticipant,
  QuotaSagaCoordinator,
  QuotaSagaHooks,
  QuotaSagaRecord,
  QuotaSagaUnfinishedError,
  quotaLedgerMigrations,
  quotaSagaLogMigrations,
  RedisQuotaStore,
} from '@hospital/transactions';

/**
 * The quota-cached saga's orchestrator over its real PostgreSQL log, driving real quota caches (Redis and a
 * participant database): a plan completes with its reservations held and handed to the completion in one
 * transaction with the log; a refusal releases everything; an orchestrator that dies mid-saga is aborted by
 * recovery on another replica with its quota given back; one that stalls past its lease cannot complete
 * what recovery aborted; and two replicas recovering side by side abort each saga once.
 */
jest.setTimeout(60_000);

class Crash extends Error {}

describe('quota-cached saga orchestrator', () => {
  const drops: (() => Promise<void>)[] = [];
  let orchestratorDb: Database;
  let participantDb: Database;
  let redis: Redis;
  let cache: QuotaCache<SqlExecutor>;
  let log: PostgresQuotaSagaLog;
  const prefix = `test:quota-saga:${process.pid}:${randomUUID().slice(0, 8)}:`;

  beforeAll(async () => {
    const orchestrator = await createTestDatabase('txlib_quota_saga', quotaSagaLogMigrations);
    const participant = await createTestDatabase('txlib_quota_part', [
      ...capacityMigrations,
      ...quotaLedgerMigrations,
    ]);
    drops.push(orchestrator.drop, participant.drop);
    orchestratorDb = new Database({ ...orchestrator.settings, poolSize: 8 }, 'quota-saga-test');
    participantDb = new Database({ ...participant.settings, poolSize: 8 }, 'quota-participant-test');
    await orchestratorDb.query(
      `CREATE TABLE plan (gtid text PRIMARY KEY, status text NOT NULL, reservations jsonb, aborted_count int NOT NULL DEFAULT 0)`,
    );
    redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    cache = new QuotaCache(new RedisQuotaStore(redis, { prefix }), new PostgresQuotaLedger(participantDb), {
      idleReturnMs: 0,
    });
    log = new PostgresQuotaSagaLog(orchestratorDb);
  });

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await orchestratorDb?.close();
    await participantDb?.close();
    for (const drop of drops) await drop();
  });

  /** One participant over the quota cache, called in-process (the HTTP routes map onto the same calls). */
  const participant: QuotaParticipant = {
    reserve: async (r) => {
      const answer = await cache.reserve(r);
      return answer.outcome === 'reserved'
        ? { outcome: 'reserved', epoch: answer.epoch }
        : { outcome: 'refused', reason: answer.outcome };
    },
    hold: async (r) => ((await cache.hold(r.resource, r.key)) === 'held' ? 'held' : 'refused'),
    release: async (r) => void (await cache.release(r.resource, r.key)),
  };

  const hooks: QuotaSagaHooks<SqlExecutor> = {
    started: async (tx, saga) => {
      await tx.query(`INSERT INTO plan (gtid, status) VALUES ($1, 'draft')`, [saga.gtid]);
    },
    completed: async (tx, saga, reservations: CompletedQuotaReservation[]) => {
      await tx.query(`UPDATE plan SET status = 'active', reservations = $2 WHERE gtid = $1`, [
        saga.gtid,
        JSON.stringify(reservations),
      ]);
    },
    aborted: async (tx, saga) => {
      await tx.query(
        `UPDATE plan SET status = 'revoked', aborted_count = aborted_count + 1 WHERE gtid = $1`,
        [saga.gtid],
      );
    },
  };

  const coordinator = (
    name: string,
    options: { leaseMs?: number; crashAt?: string; pause?: Promise<void> } = {},
  ) =>
    new QuotaSagaCoordinator(log, { pharmacy: participant, pacs: participant }, hooks, {
      name,
      leaseMs: options.leaseMs ?? 30_000,
      points: (point) => {
        if (point === options.crashAt) throw new Crash(point);
      },
    });

  const register = async (capacity: number): Promise<string> => {
    const resource = `drug:${randomUUID().slice(0, 8)}@ward-3a`;
    await participantDb.query('INSERT INTO tx_capacity (resource, capacity) VALUES ($1, $2)', [
      resource,
      capacity,
    ]);
    return resource;
  };
  const saga = (stock: string, imaging: string, units = 2): Omit<QuotaSagaRecord, 'state' | 'reason'> => ({
    gtid: randomUUID(),
    input: { plan: 'multidisciplinary' },
    steps: [
      { participant: 'pacs', step: 'imaging', resource: imaging, units: 1 },
      { participant: 'pharmacy', step: 'stock', resource: stock, units },
    ],
  });
  const plan = async (gtid: string) =>
    (
      await orchestratorDb.query<{ status: string; aborted_count: number }>(
        'SELECT status, aborted_count FROM plan WHERE gtid = $1',
        [gtid],
      )
    )[0];
  /** Every unit the cache holds for the resource is free: nothing reserved or held is left behind. */
  const expectWhole = async (resource: string) => {
    const level = await cache.level(resource);
    expect(level?.reservations ?? 0).toBe(0);
    expect(level?.available).toBe(level?.lent);
  };

  it('completes a plan: every reservation held and handed to the completion with the log in one transaction', async () => {
    const [stock, imaging] = [await register(10), await register(5)];
    const s = saga(stock, imaging);
    const result = await coordinator('a').run(s);
    expect(result).toMatchObject({ outcome: 'completed', gtid: s.gtid });
    expect(await plan(s.gtid)).toMatchObject({ status: 'active' });
    expect(await log.get(s.gtid)).toMatchObject({ state: 'completed' });
    if (result.outcome !== 'completed') throw new Error('not completed');
    expect(result.reservations.map((r) => [r.participant, r.key, r.units])).toEqual([
      ['pacs', `${s.gtid}:imaging`, 1],
      ['pharmacy', `${s.gtid}:stock`, 2],
    ]);
    // The held reservations no longer expire; the participants' commit-sync applies them once.
    expect(await cache.hold(stock, `${s.gtid}:stock`)).toBe('held');
    await participantDb.transaction((tx) => cache.applyCompleted(tx, result.reservations));
    expect(await cache.settleApplied(result.reservations)).toBe(2);
    await expectWhole(stock);
  });

  it('releases every reservation and revokes the plan when one is refused', async () => {
    const [stock, imaging] = [await register(1), await register(5)];
    const s = saga(stock, imaging, 3);
    expect(await coordinator('a').run(s)).toMatchObject({ outcome: 'aborted', failedStep: 'stock' });
    expect(await plan(s.gtid)).toMatchObject({ status: 'revoked', aborted_count: 1 });
    for (const resource of [stock, imaging]) await expectWhole(resource);
    expect(
      await cache.reserve({ key: `${s.gtid}:imaging`, gtid: s.gtid, resource: imaging, units: 1 }),
    ).toEqual({
      outcome: 'refused',
      state: 'released',
    });
  });

  it.each([
    'quota-saga.coordinator.after-begin',
    'quota-saga.coordinator.after-reserve',
    'quota-saga.coordinator.after-hold',
  ])(
    'aborts on another replica a saga whose orchestrator died at %s, its quota given back',
    async (point) => {
      const [stock, imaging] = [await register(10), await register(5)];
      const s = saga(stock, imaging);
      await expect(coordinator('a', { leaseMs: 100, crashAt: point }).run(s)).rejects.toBeInstanceOf(Crash);
      expect(await plan(s.gtid)).toMatchObject({ status: 'draft' });
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(await coordinator('b').recover()).toBeGreaterThanOrEqual(1);
      expect(await plan(s.gtid)).toMatchObject({ status: 'revoked', aborted_count: 1 });
      for (const resource of [stock, imaging]) await expectWhole(resource);
    },
  );

  it('fences the completion by the lease: a finish already under way completes, a taken-over lease is refused', async () => {
    const [stock, imaging] = [await register(10), await register(5)];
    const s = saga(stock, imaging);
    let resume!: () => void;
    const stalled = new Promise<void>((resolve) => (resume = resolve));
    let reachedHold!: () => void;
    const atHold = new Promise<void>((resolve) => (reachedHold = resolve));
    const slowHooks: QuotaSagaHooks<SqlExecutor> = {
      ...hooks,
      completed: async (tx, record, reservations) => {
        reachedHold();
        await stalled;
        await hooks.completed(tx, record, reservations);
      },
    };
    const slow = new QuotaSagaCoordinator(log, { pharmacy: participant, pacs: participant }, slowHooks, {
      name: 'slow',
      leaseMs: 100,
    });
    const running = slow.run(s);
    await atHold;
    await new Promise((resolve) => setTimeout(resolve, 150));
    // The stalled finish holds its transaction open with the saga row locked: recovery skips it...
    expect(await coordinator('b').recover()).toBe(0);
    resume();
    // ...and the finish, having matched its token before the lease ran out, commits: the plan is active.
    await expect(running).resolves.toMatchObject({ outcome: 'completed' });
    expect(await plan(s.gtid)).toMatchObject({ status: 'active', aborted_count: 0 });

    // A replica whose lease was taken before it finished is refused instead.
    const t = saga(stock, imaging);
    const late = coordinator('late', { leaseMs: 100, crashAt: 'quota-saga.coordinator.after-reserve' });
    await expect(late.run(t)).rejects.toBeInstanceOf(Crash);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const [{ lease }] = await log.claimUnfinished('b', 10, 30_000);
    await expect(
      log.finish({ gtid: t.gtid, token: 'the-old-token' }, 'completed', undefined, () => Promise.resolve()),
    ).rejects.toThrow('no longer leased');
    await log.finish(lease, 'aborted', 'test', (tx) => hooks.aborted(tx, { ...t, state: 'running' }, 'test'));
    expect(await plan(t.gtid)).toMatchObject({ status: 'revoked', aborted_count: 1 });
  });

  it('lets two replicas recover twenty dead sagas side by side, each aborted exactly once', async () => {
    const [stock, imaging] = [await register(100), await register(100)];
    const dead = Array.from({ length: 20 }, () => saga(stock, imaging));
    for (const s of dead)
      await expect(
        coordinator('dead', { leaseMs: 50, crashAt: 'quota-saga.coordinator.after-reserve' }).run(s),
      ).rejects.toBeInstanceOf(Crash);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [a, b] = await Promise.all([coordinator('a').recover(), coordinator('b').recover()]);
    expect(a + b).toBe(20);
    for (const s of dead) expect(await plan(s.gtid)).toMatchObject({ status: 'revoked', aborted_count: 1 });
    for (const resource of [stock, imaging]) await expectWhole(resource);
  });

  it('answers a saga whose log is unreachable at completion as unfinished, for recovery to settle', async () => {
    const [stock, imaging] = [await register(10), await register(5)];
    const s = saga(stock, imaging);
    const failing: QuotaSagaHooks<SqlExecutor> = {
      ...hooks,
      completed: () => Promise.reject(new Error('database went away')),
    };
    const c = new QuotaSagaCoordinator(log, { pharmacy: participant, pacs: participant }, failing, {
      name: 'c',
      leaseMs: 50,
    });
    await expect(c.run(s)).rejects.toBeInstanceOf(QuotaSagaUnfinishedError);
    await new Promise((resolve) => setTimeout(resolve, 80));
    await coordinator('b').recover();
    expect(await plan(s.gtid)).toMatchObject({ status: 'revoked' });
    for (const resource of [stock, imaging]) await expectWhole(resource);
  });
});
