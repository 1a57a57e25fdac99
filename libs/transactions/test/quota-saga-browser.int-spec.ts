import { Database, Session } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  ListedTransaction,
  PostgresQuotaSagaBrowser,
  PostgresQuotaSagaLog,
  QuotaParticipant,
  QuotaSagaCoordinator,
  QuotaSagaHooks,
  QuotaSagaStep,
  quotaSagaLogMigrations,
} from '@hospital/transactions';

/**
 * `/api/transactions` over the quota-cached saga's log, against the real PostgreSQL: sagas run through
 * the orchestrator and its PostgreSQL log, with in-process participants (one completed, one aborted on a
 * refused reservation, one whose orchestrator stopped after it began, seen running and then aborted by
 * recovery on another replica) are listed with their state, reservations as branches, the start and end
 * the log records, and the filters hold.
 */
jest.setTimeout(60_000);

class Stopped extends Error {}

const STEPS: QuotaSagaStep[] = [
  { participant: 'appointments', step: 'consults:0', resource: 'slot:cardiology', units: 1 },
  { participant: 'pacs', step: 'imaging:0', resource: 'modality:ct-1', units: 1 },
  { participant: 'pharmacy', step: 'regimen:0', resource: 'drug:197361@ward-3a', units: 14 },
];

describe('quota-cached saga browser over PostgreSQL', () => {
  let drop: () => Promise<void>;
  let db: Database;
  let browser: PostgresQuotaSagaBrowser;
  /** Reservation keys the pharmacy refuses. */
  const refused = new Set<string>();
  const released: string[] = [];

  /** A participant holding reservations in memory, as its quota cache would in Redis. */
  const participant = (name: string): QuotaParticipant => ({
    reserve: ({ key }) =>
      Promise.resolve(
        name === 'pharmacy' && refused.has(key.split(':')[0])
          ? { outcome: 'refused' as const, reason: 'pharmacy: not enough quota for drug:197361@ward-3a' }
          : { outcome: 'reserved' as const, epoch: 'epoch-1' },
      ),
    hold: () => Promise.resolve('held'),
    release: ({ key }) => {
      released.push(key);
      return Promise.resolve();
    },
  });
  const participants = {
    appointments: participant('appointments'),
    pacs: participant('pacs'),
    pharmacy: participant('pharmacy'),
  };
  const hooks: QuotaSagaHooks<Session> = {
    started: () => Promise.resolve(),
    completed: () => Promise.resolve(),
    aborted: () => Promise.resolve(),
  };
  const orchestrator = (name: string, leaseMs = 30_000, stopAfterBegin = false) =>
    new QuotaSagaCoordinator<Session>(new PostgresQuotaSagaLog(db), participants, hooks, {
      name,
      leaseMs,
      points: (point) => {
        if (stopAfterBegin && point === 'quota-saga.coordinator.after-begin') throw new Stopped(point);
      },
    });

  const gtids = { completed: 'qs-completed', aborted: 'qs-aborted', stopped: 'qs-stopped' };
  let running: ListedTransaction | undefined;

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_quota_saga_browser', quotaSagaLogMigrations);
    drop = created.drop;
    db = new Database({ ...created.settings, poolSize: 4 }, 'quota-saga-browser-test');
    browser = new PostgresQuotaSagaBrowser(db);
    const first = orchestrator('replica-a');
    await first.run({
      gtid: gtids.completed,
      input: { plan: 'p-1' },
      steps: STEPS,
      correlationId: 'plan-3001',
    });
    refused.add(gtids.aborted);
    await first.run({
      gtid: gtids.aborted,
      input: { plan: 'p-2' },
      steps: STEPS,
      correlationId: 'plan-3002',
    });
    await expect(
      orchestrator('replica-a', 200, true).run({ gtid: gtids.stopped, input: { plan: 'p-3' }, steps: STEPS }),
    ).rejects.toBeInstanceOf(Stopped);
    running = await browser.get(gtids.stopped);
    const second = orchestrator('replica-b');
    for (let round = 0; round < 100 && (await browser.get(gtids.stopped))?.state === 'running'; round += 1) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      await second.recover();
    }
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  const events = (record: ListedTransaction | undefined) => record?.timeline.map((entry) => entry.event);

  it('lists a completed saga: every reservation held, started and completed', async () => {
    const record = await browser.get(gtids.completed);
    expect(record).toMatchObject({
      gtid: gtids.completed,
      correlationId: 'plan-3001',
      style: 'quota-saga',
      state: 'completed',
      branches: [
        { participant: 'appointments', step: 'consults:0', state: 'held' },
        { participant: 'pacs', step: 'imaging:0', state: 'held' },
        { participant: 'pharmacy', step: 'regimen:0', state: 'held' },
      ],
      retries: 0,
    });
    expect(record?.lastError).toBeUndefined();
    expect(events(record)).toEqual([
      'started: reserving 3 step(s) at appointments, pacs, pharmacy',
      'every reservation held; completed',
    ]);
    expect(record?.updatedAt).toBe(record?.timeline[1].at);
  });

  it('lists an aborted saga: every reservation released, the refusal as its reason', async () => {
    const record = await browser.get(gtids.aborted);
    const reason = 'pharmacy: not enough quota for drug:197361@ward-3a';
    expect(record).toMatchObject({ state: 'aborted', lastError: reason });
    expect(record?.branches.map((b) => b.state)).toEqual(['released', 'released', 'released']);
    expect(events(record)).toEqual([
      'started: reserving 3 step(s) at appointments, pacs, pharmacy',
      `every reservation released; aborted: ${reason}`,
    ]);
    expect(released.filter((key) => key.startsWith(`${gtids.aborted}:`)).sort()).toEqual(
      STEPS.map((step) => `${gtids.aborted}:${step.step}`).sort(),
    );
  });

  it('lists a saga left running by its orchestrator, then aborted by recovery', async () => {
    expect(running).toMatchObject({ state: 'running', retries: 0 });
    expect(running?.branches.map((b) => b.state)).toEqual(['reserving', 'reserving', 'reserving']);
    expect(events(running)).toEqual(['started: reserving 3 step(s) at appointments, pacs, pharmacy']);
    expect(running?.updatedAt).toBe(running?.createdAt);
    const record = await browser.get(gtids.stopped);
    expect(record).toMatchObject({
      state: 'aborted',
      lastError: 'orchestrator stopped before the saga completed',
    });
    expect(events(record)?.[1]).toBe(
      'every reservation released; aborted: orchestrator stopped before the saga completed',
    );
  });

  it('lists newest first and filters by style, state, correlation id, before and limit in SQL', async () => {
    const all = await browser.list({ limit: 50 });
    expect(all.map((r) => r.gtid)).toEqual([gtids.stopped, gtids.aborted, gtids.completed]);
    expect(await browser.list({ limit: 50, style: 'saga' })).toEqual([]);
    expect((await browser.list({ limit: 50, style: 'quota-saga' })).length).toBe(3);
    expect((await browser.list({ limit: 50, state: 'aborted' })).map((r) => r.gtid)).toEqual([
      gtids.stopped,
      gtids.aborted,
    ]);
    expect(await browser.list({ limit: 50, state: 'running' })).toEqual([]);
    expect((await browser.list({ limit: 50, correlationId: 'plan-3002' })).map((r) => r.gtid)).toEqual([
      gtids.aborted,
    ]);
    const before = all.find((r) => r.gtid === gtids.aborted)?.createdAt;
    expect((await browser.list({ limit: 50, before })).map((r) => r.gtid)).toEqual([gtids.completed]);
    expect((await browser.list({ limit: 1 })).map((r) => r.gtid)).toEqual([gtids.stopped]);
    expect(await browser.get('no-such-saga')).toBeUndefined();
    expect(JSON.stringify(all)).not.toContain('"plan"');
  });
});
