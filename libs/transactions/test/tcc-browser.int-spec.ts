import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  defineTcc,
  ListedTransaction,
  PostgresTccBrowser,
  PostgresTccLog,
  ProtocolPoint,
  TccCoordinator,
  TccCoordinatorOptions,
  tccLogMigrations,
  TccUnfinishedError,
} from '@hospital/transactions';

/**
 * `/api/transactions` over the TCC coordinator's log, against the real PostgreSQL: transactions run
 * through the coordinator and its PostgreSQL log (confirmed; cancelled on a refused Try; one whose
 * coordinator stopped before deciding and one whose Confirm kept failing, both finished by recovery on
 * another replica) are listed with their state, branches, the timeline oldest first, retries and last
 * error; the style, state, correlation id, before and limit filters hold.
 */
jest.setTimeout(60_000);

interface PlanInput {
  /** The pharmacy's Try refuses. */
  refuse?: boolean;
  /** The PACS Confirm fails this many times before it succeeds. */
  confirmFailures?: number;
}

class Stopped extends Error {}

describe('TCC browser over PostgreSQL', () => {
  let drop: () => Promise<void>;
  let db: Database;
  let browser: PostgresTccBrowser;
  const confirmFailures = new Map<string, number>();

  const workflow = defineTcc<PlanInput>(
    'treatment-plan',
    ['appointments', 'pacs', 'pharmacy'].map((name) => ({
      name,
      try: (input: PlanInput) =>
        name === 'pharmacy' && input.refuse
          ? Promise.reject(new Error('out of stock'))
          : Promise.resolve({ held: true }),
      confirm: (input: PlanInput, { gtid }: { gtid: string }) => {
        const failed = confirmFailures.get(gtid) ?? 0;
        if (name === 'pacs' && failed < (input.confirmFailures ?? 0)) {
          confirmFailures.set(gtid, failed + 1);
          return Promise.reject(new Error('imaging slot service unavailable'));
        }
        return Promise.resolve();
      },
      cancel: () => Promise.resolve(),
    })),
  );

  const coordinator = (name: string, stopAt?: ProtocolPoint, options: Partial<TccCoordinatorOptions> = {}) =>
    new TccCoordinator(new PostgresTccLog(db), [workflow], {
      name,
      leaseMs: 400,
      callTimeoutMs: 200,
      retryBaseMs: 1,
      retryMaxMs: 5,
      recoveryRetryBaseMs: 1,
      recoveryRetryMaxMs: 5,
      points: (point) => {
        if (point === stopAt) throw new Stopped(`stopped at ${point}`);
      },
      ...options,
    });

  let confirmed: string;
  let cancelled: string;
  let stopped: string;
  let retried: string;

  /** Recovery on `replica` until `gtid` is finished. */
  const recoverUntilFinished = async (replica: TccCoordinator, gtid: string): Promise<void> => {
    for (let round = 0; round < 100; round += 1) {
      const state = (await browser.get(gtid))?.state;
      if (state === 'confirmed' || state === 'cancelled') return;
      await new Promise((resolve) => setTimeout(resolve, 25));
      await replica.recover();
    }
  };

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_tcc_browser', tccLogMigrations);
    drop = created.drop;
    db = new Database({ ...created.settings, poolSize: 4 }, 'tcc-browser-test');
    browser = new PostgresTccBrowser(db);
    confirmed = (await coordinator('replica-a').run(workflow, {}, { correlationId: 'plan-2001' })).gtid;
    cancelled = (
      await coordinator('replica-a').run(workflow, { refuse: true }, { correlationId: 'plan-2002' })
    ).gtid;
    const stop = await coordinator('replica-a', 'tcc.coordinator.before-try')
      .run(workflow, {})
      .catch((error: unknown) => error);
    expect(stop).toBeInstanceOf(TccUnfinishedError);
    stopped = (stop as TccUnfinishedError).gtid;
    const left = await coordinator('replica-a', undefined, { phaseTwoAttempts: 2 }).run(workflow, {
      confirmFailures: 3,
    });
    expect(left).toMatchObject({ outcome: 'confirmed', settled: false });
    retried = left.gtid;
    const replica = coordinator('replica-b');
    await recoverUntilFinished(replica, stopped);
    await recoverUntilFinished(replica, retried);
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  const events = (record: ListedTransaction | undefined) => record?.timeline.map((entry) => entry.event);

  it('lists a confirmed transaction: tried, decided, confirmed in every branch', async () => {
    const record = await browser.get(confirmed);
    expect(record).toMatchObject({
      gtid: confirmed,
      correlationId: 'plan-2001',
      style: 'tcc',
      state: 'confirmed',
      branches: [
        { participant: 'appointments', state: 'confirmed' },
        { participant: 'pacs', state: 'confirmed' },
        { participant: 'pharmacy', state: 'confirmed' },
      ],
      retries: 0,
    });
    expect(record?.lastError).toBeUndefined();
    expect(events(record)).toEqual([
      'started (treatment-plan): trying appointments, pacs, pharmacy',
      'every Try succeeded: confirming',
      'confirmed',
    ]);
  });

  it('lists a cancelled transaction: the refused Try on its branch, the decision with its reason', async () => {
    const record = await browser.get(cancelled);
    expect(record).toMatchObject({
      state: 'cancelled',
      branches: [
        { participant: 'appointments', state: 'cancelled' },
        { participant: 'pacs', state: 'cancelled' },
        { participant: 'pharmacy', state: 'cancelled', reason: 'out of stock' },
      ],
      lastError: 'pharmacy: out of stock',
    });
    expect(record?.branches[0].reason).toBeUndefined();
    expect(events(record)).toEqual([
      'started (treatment-plan): trying appointments, pacs, pharmacy',
      'cancelling: pharmacy: out of stock',
      'cancelled',
    ]);
  });

  it('lists a transaction whose coordinator stopped before deciding, cancelled by recovery', async () => {
    const record = await browser.get(stopped);
    expect(record).toMatchObject({ state: 'cancelled', retries: 0 });
    expect(record?.branches.map((b) => b.state)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(events(record)).toEqual([
      'started (treatment-plan): trying appointments, pacs, pharmacy',
      'claimed by replica-b',
      'cancelling: the coordinator stopped before deciding',
      'cancelled',
    ]);
  });

  it('lists a Confirm that kept failing: given back, claimed, confirmed, its retries and last error', async () => {
    const record = await browser.get(retried);
    expect(record).toMatchObject({
      state: 'confirmed',
      lastError: 'confirm of pacs: imaging slot service unavailable',
    });
    expect(events(record)).toEqual([
      'started (treatment-plan): trying appointments, pacs, pharmacy',
      'every Try succeeded: confirming',
      'given back to recovery',
      'claimed by replica-b',
      'confirmed',
    ]);
    expect(record?.retries).toBe(1);
    const instants = record?.timeline.map((entry) => Date.parse(entry.at)) ?? [];
    expect(instants).toEqual([...instants].sort((a, b) => a - b));
  });

  it('shows an undecided transaction trying in every branch', async () => {
    const stop = await coordinator('replica-c', 'tcc.coordinator.before-try', { leaseMs: 60_000 })
      .run(workflow, {}, { correlationId: 'plan-2003' })
      .catch((error: unknown) => error as TccUnfinishedError);
    const record = await browser.get((stop as TccUnfinishedError).gtid);
    expect(record).toMatchObject({ state: 'trying', correlationId: 'plan-2003' });
    expect(record?.branches.map((b) => b.state)).toEqual(['trying', 'trying', 'trying']);
    expect(await browser.list({ limit: 50, state: 'trying' })).toEqual([record]);
  });

  it('lists newest first and filters by style, state, correlation id, before and limit in SQL', async () => {
    const all = await browser.list({ limit: 50 });
    expect(all.map((r) => r.gtid).slice(1)).toEqual([retried, stopped, cancelled, confirmed]);
    expect(await browser.list({ limit: 50, style: 'saga' })).toEqual([]);
    expect((await browser.list({ limit: 50, style: 'tcc' })).length).toBe(5);
    expect((await browser.list({ limit: 50, state: 'cancelled' })).map((r) => r.gtid)).toEqual([
      stopped,
      cancelled,
    ]);
    expect((await browser.list({ limit: 50, correlationId: 'plan-2001' })).map((r) => r.gtid)).toEqual([
      confirmed,
    ]);
    const before = all.find((r) => r.gtid === stopped)?.createdAt;
    expect((await browser.list({ limit: 50, before })).map((r) => r.gtid)).toEqual([cancelled, confirmed]);
    expect((await browser.list({ limit: 2, state: 'confirmed' })).map((r) => r.gtid)).toEqual([
      retried,
      confirmed,
    ]);
    expect(await browser.get('no-such-transaction')).toBeUndefined();
  });
});
