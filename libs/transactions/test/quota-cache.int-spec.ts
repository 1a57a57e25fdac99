import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  capacityMigrations,
  PostgresQuotaLedger,
  QuotaCache,
  QuotaCacheOptions,
  QuotaReservation,
  quotaLedgerMigrations,
  RedisQuotaStore,
} from '@hospital/transactions';

/**
 * The quota-cached saga's participant side on the real PostgreSQL and Redis, against each weakness of the
 * paper's own demo: a hundred clients racing for the last units never oversell (atomic Lua, not a
 * read-modify-write), a redelivered completion commits once (keyed by saga step), a plan whose last step
 * fails leaves the main database untouched and the cache whole, an orchestrator killed mid-saga leaks no
 * quota once its reservations expire — and a Redis that loses its data is rebuilt from the main database
 * with nothing lost and nothing applied twice. A property run mixes all of it under random schedules.
 */
jest.setTimeout(120_000);

interface CapacityRow {
  capacity: number;
  taken: number;
  held: number;
  lent: number;
  available: number;
}

describe('quota cache over PostgreSQL and Redis', () => {
  let drop: () => Promise<void>;
  let db: Database;
  let redis: Redis;
  let store: RedisQuotaStore;
  let ledger: PostgresQuotaLedger;
  const prefix = `test:quota-cache:${process.pid}:${randomUUID().slice(0, 8)}:`;

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_quota', [
      ...capacityMigrations,
      ...quotaLedgerMigrations,
    ]);
    drop = created.drop;
    db = new Database({ ...created.settings, poolSize: 12 }, 'quota-cache-test');
    redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    store = new RedisQuotaStore(redis, { prefix });
    ledger = new PostgresQuotaLedger(db);
  });

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await db?.close();
    await drop?.();
  });

  const cache = (options: QuotaCacheOptions = {}) =>
    new QuotaCache(store, ledger, { idleReturnMs: 0, lostGraceMs: 60_000, ...options });

  /** Each saga's gtid carries a fresh tag: keys are unique for good, across tests and property runs. */
  let tag = '';
  const register = async (capacity: number): Promise<string> => {
    tag = `${randomUUID().slice(0, 8)}-`;
    const resource = `drug:${randomUUID().slice(0, 8)}@ward-3a`;
    await db.query('INSERT INTO tx_capacity (resource, capacity) VALUES ($1, $2)', [resource, capacity]);
    return resource;
  };
  const row = async (resource: string): Promise<CapacityRow> =>
    (
      await db.query<CapacityRow>(
        'SELECT capacity, taken, held, lent, available FROM tx_capacity WHERE resource = $1',
        [resource],
      )
    )[0];
  /** Units lent in live or lost epochs and not yet consumed or reclaimed. */
  const outstanding = async (resource: string, state?: 'live' | 'lost'): Promise<number> =>
    Number(
      (
        await db.query<{ n: string }>(
          `SELECT coalesce(sum(lent - consumed - reclaimed), 0) AS n FROM tx_quota_epoch
            WHERE resource = $1 AND state = ANY($2)`,
          [resource, state ? [state] : ['live', 'lost']],
        )
      )[0].n,
    );
  const flush = async (resource: string) => {
    await redis.del(...store.keys(resource));
  };
  const complete = async (q: QuotaCache<unknown>, reservations: QuotaReservation[]) =>
    db.transaction((tx) => q.applyCompleted(tx, reservations));

  /** capacity = available + taken + held + lent, and lent is what live and lost epochs still have out. */
  const expectAccounted = async (resource: string) => {
    const r = await row(resource);
    expect(r.available).toBe(r.capacity - r.taken - r.held - r.lent);
    expect(r.available).toBeGreaterThanOrEqual(0);
    expect(r.lent).toBe(await outstanding(resource));
    const level = await store.level(resource);
    if (level) expect(level.lent).toBe(await outstanding(resource, 'live'));
    return r;
  };

  it('lets a hundred clients on two replicas reserve exactly the last units of a drug, never more', async () => {
    const resource = await register(7);
    const replicas = [cache({ lendChunk: 3 }), cache({ lendChunk: 3 })];
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        replicas[i % 2].reserve({ key: `${tag}g${i}:stock`, gtid: `${tag}g${i}`, resource, units: 1 }),
      ),
    );
    expect(answers.filter((a) => a.outcome === 'reserved')).toHaveLength(7);
    expect(answers.filter((a) => a.outcome === 'insufficient')).toHaveLength(93);
    expect(await row(resource)).toMatchObject({ taken: 0, lent: 7, available: 0 });
    expect(await store.level(resource)).toMatchObject({ available: 0, reservations: 7 });
    await expectAccounted(resource);
  });

  it('commits a redelivered completion once, then settles it out of the cache', async () => {
    const resource = await register(20);
    const q = cache();
    const reserved = await q.reserve({ key: `${tag}g1:stock`, gtid: `${tag}g1`, resource, units: 4 });
    if (reserved.outcome !== 'reserved') throw new Error('not reserved');
    expect(await q.hold(resource, `${tag}g1:stock`)).toBe('held');
    const event = [{ key: `${tag}g1:stock`, gtid: `${tag}g1`, resource, units: 4, epoch: reserved.epoch }];
    expect(await complete(q, event)).toEqual([`${tag}g1:stock`]);
    expect(await complete(q, event)).toEqual([]);
    expect(await row(resource)).toMatchObject({ taken: 4 });
    // The quick sweep of the replica that applied it settles it out of the cache, once.
    expect(await q.sweep(false)).toBe(1);
    expect(await q.settleApplied(event)).toBe(0);
    expect(await store.level(resource)).toMatchObject({ reservations: 0 });
    expect(await expectAccounted(resource)).toMatchObject({ taken: 4, capacity: 20 });
  });

  it('leaves the main database untouched and the cache whole when a plan fails after reserving', async () => {
    const imaging = await register(5);
    const stock = await register(1);
    const q = cache();
    expect(
      await q.reserve({ key: `${tag}g1:imaging`, gtid: `${tag}g1`, resource: imaging, units: 2 }),
    ).toMatchObject({
      outcome: 'reserved',
    });
    expect(
      await q.reserve({ key: `${tag}g1:stock`, gtid: `${tag}g1`, resource: stock, units: 3 }),
    ).toMatchObject({
      outcome: 'insufficient',
    });
    // The saga compensates: every step released, the failed one too (it may have partly happened).
    expect(await q.release(imaging, `${tag}g1:imaging`)).toEqual({ outcome: 'released', units: 2 });
    expect(await q.release(stock, `${tag}g1:stock`)).toEqual({ outcome: 'absent' });
    expect(
      await q.reserve({ key: `${tag}g1:imaging`, gtid: `${tag}g1`, resource: imaging, units: 2 }),
    ).toEqual({
      outcome: 'refused',
      state: 'released',
    });
    for (const resource of [imaging, stock]) {
      expect(await expectAccounted(resource)).toMatchObject({ taken: 0, held: 0 });
      const level = await store.level(resource);
      if (level) expect(level.available).toBe(level.lent);
    }
    expect(await db.query('SELECT 1 FROM tx_capacity_claim WHERE gtid = $1', [`${tag}g1`])).toHaveLength(0);
  });

  it('leaks no quota from an orchestrator killed mid-saga once its reservations expire', async () => {
    const resource = await register(10);
    await cache({ reservationTtlMs: 100 }).reserve({
      key: `${tag}g1:stock`,
      gtid: `${tag}g1`,
      resource,
      units: 6,
    });
    // The orchestrator is gone: nobody holds or releases. A sweep after the deadline gives the units back,
    // and idle quota goes back to the main database.
    await new Promise((resolve) => setTimeout(resolve, 150));
    const sweeper = cache({ idleReturnMs: 1 });
    await sweeper.sweep();
    expect(await sweeper.hold(resource, `${tag}g1:stock`)).toBe('expired');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await sweeper.sweep();
    expect(await expectAccounted(resource)).toMatchObject({ taken: 0, lent: 0, available: 10 });
  });

  it('rebuilds a cache that lost its data from the main database; completed sagas still commit once', async () => {
    const resource = await register(30);
    const q = cache({ lendChunk: 10 });
    const done = await q.reserve({ key: `${tag}g1:stock`, gtid: `${tag}g1`, resource, units: 3 });
    await q.reserve({ key: `${tag}g2:stock`, gtid: `${tag}g2`, resource, units: 2 });
    if (done.outcome !== 'reserved') throw new Error('not reserved');
    await q.hold(resource, `${tag}g1:stock`);
    await flush(resource);
    // A sweep sees the live epoch gone: it is lost (its units withheld) and quota is lent again.
    await q.sweep();
    const rebuilt = await store.level(resource);
    expect(rebuilt?.epoch).not.toBe(done.epoch);
    // g1 completed before the loss: its durable event still commits, once. g2 never did: compensated.
    const event = [{ key: `${tag}g1:stock`, gtid: `${tag}g1`, resource, units: 3, epoch: done.epoch }];
    expect(await complete(q, event)).toEqual([`${tag}g1:stock`]);
    expect(await complete(q, event)).toEqual([]);
    expect(await q.release(resource, `${tag}g2:stock`)).toEqual({ outcome: 'absent' });
    expect(await expectAccounted(resource)).toMatchObject({ taken: 3 });
    // Once the lost epoch's grace is over, what it still withheld goes back to the main database.
    expect(await ledger.closeLostEpochs(0)).toBeGreaterThanOrEqual(1);
    expect(
      await db.query('SELECT state FROM tx_quota_epoch WHERE resource = $1 AND epoch = $2', [
        resource,
        done.epoch,
      ]),
    ).toEqual([{ state: 'closed' }]);
    const after = await expectAccounted(resource);
    expect(after).toMatchObject({ taken: 3, lent: rebuilt?.lent });
    expect(after.available).toBe(30 - 3 - (rebuilt?.lent ?? 0));
  });

  it('replaces an epoch the main database does not count live (old snapshot, stale keys) instead of refusing', async () => {
    // Keys this database never lent — a Redis restored from an old snapshot, a database rebuilt under the
    // same key prefix — hold too little for the reservation: the top-up starts a new epoch in their place.
    const resource = await register(20);
    await store.lend(resource, 'stale-epoch', `${tag}stale-op`, 2, true, Date.now());
    const q = cache({ lendChunk: 10 });
    const answer = await q.reserve({ key: `${tag}g1:stock`, gtid: `${tag}g1`, resource, units: 5 });
    expect(answer).toMatchObject({ outcome: 'reserved', units: 5 });
    const level = await store.level(resource);
    expect(level?.epoch).not.toBe('stale-epoch');
    expect(level).toMatchObject({ lent: 10, available: 5 });
    await expectAccounted(resource);

    // A full sweep that finds a stale epoch where the live one should be: the live one is lost, a new one lent.
    await store.lend(resource, 'stale-again', `${tag}stale-op-2`, 1, true, Date.now(), level?.epoch);
    await q.sweep();
    const rebuilt = await store.level(resource);
    expect([level?.epoch, 'stale-again']).not.toContain(rebuilt?.epoch);
    expect(
      await db.query('SELECT state FROM tx_quota_epoch WHERE resource = $1 AND epoch = $2', [
        resource,
        level?.epoch,
      ]),
    ).toEqual([{ state: 'lost' }]);
    expect(rebuilt).toMatchObject({ lent: 10, available: 10 });
    await expectAccounted(resource);
  });
  it('keeps every unit accounted for under random schedules of sagas, expiries, sweeps and data loss', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.array(
          fc.record({
            units: fc.integer({ min: 1, max: 4 }),
            fate: fc.constantFrom('complete', 'compensate', 'abandon', 'redeliver'),
          }),
          { minLength: 1, maxLength: 14 },
        ),
        fc.array(fc.constantFrom('flush', 'sweep', 'none'), { minLength: 1, maxLength: 4 }),
        async (capacity, sagas, disturbances) => {
          const resource = await register(capacity);
          const replicas = [
            cache({ lendChunk: 2, reservationTtlMs: 50 }),
            cache({ lendChunk: 3, reservationTtlMs: 50 }),
          ];
          const outcomes = await Promise.all(
            sagas.map(async (saga, i) => {
              const q = replicas[i % 2];
              const key = `${tag}p${i}:stock`;
              const answer = await q.reserve({ key, gtid: `${tag}p${i}`, resource, units: saga.units });
              const disturbance = disturbances[i % disturbances.length];
              if (disturbance === 'flush' && i % 3 === 0) await flush(resource);
              if (disturbance === 'sweep') await q.sweep();
              if (answer.outcome !== 'reserved') {
                await q.release(resource, key);
                return 0;
              }
              if (saga.fate === 'abandon') return 0;
              if (saga.fate === 'compensate' || (await q.hold(resource, key)) !== 'held') {
                await q.release(resource, key);
                return 0;
              }
              const event = [{ key, gtid: `${tag}p${i}`, resource, units: saga.units, epoch: answer.epoch }];
              await complete(q, event);
              if (saga.fate === 'redeliver') await complete(q, event);
              return saga.units;
            }),
          );
          // Settle: abandoned reservations expire, held ones are settled, lost epochs close.
          await new Promise((resolve) => setTimeout(resolve, 60));
          await replicas[0].sweep();
          await ledger.closeLostEpochs(0);
          const r = await expectAccounted(resource);
          expect(r.taken).toBe(outcomes.reduce((a, b) => a + b, 0));
          expect(r.taken).toBeLessThanOrEqual(capacity);
          const level = await store.level(resource);
          if (level) {
            expect(level.reservations).toBe(0);
            expect(level.available).toBe(level.lent);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
