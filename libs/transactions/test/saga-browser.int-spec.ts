import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  defineSaga,
  ListedTransaction,
  PostgresSagaBrowser,
  PostgresSagaLog,
  SagaOrchestrator,
  sagaMigrations,
  StepRefusedError,
} from '@hospital/transactions';

/**
 * `/api/transactions` over the saga log, against the real PostgreSQL: sagas run through the orchestrator
 * and its PostgreSQL log (one completed after a step's transient failure, one compensated after a refusal,
 * one whose compensation kept failing until recovery on another replica finished it) are listed with their
 * state, steps as branches in their own states, a timeline of every step transition oldest first, retries
 * and last error; the style, state, correlation id, before and limit filters hold.
 */
jest.setTimeout(60_000);

interface PlanInput {
  /** The pharmacy step refuses: the saga compensates. */
  refuse?: boolean;
  /** The PACS action fails this many times before it succeeds (transient). */
  pacsFailures?: number;
  /** The PACS compensation fails this many times before it succeeds. */
  pacsUndoFailures?: number;
}

describe('saga browser over PostgreSQL', () => {
  let drop: () => Promise<void>;
  let db: Database;
  let browser: PostgresSagaBrowser;
  const failures = new Map<string, number>();

  /** Fails the `count` first calls keyed `key`, then succeeds. */
  const flaky = (key: string, count: number | undefined, error: string): void => {
    const done = failures.get(key) ?? 0;
    if (done < (count ?? 0)) {
      failures.set(key, done + 1);
      throw new Error(error);
    }
  };

  const workflow = defineSaga<PlanInput>('treatment-plan', [
    { name: 'appointments', action: () => Promise.resolve({ slot: 1 }), compensate: () => Promise.resolve() },
    {
      name: 'pacs',
      action: (input, { gtid }) => {
        flaky(`${gtid}/pacs`, input.pacsFailures, 'imaging slot service unavailable');
        return Promise.resolve({ study: 1 });
      },
      compensate: (input, { gtid }) => {
        flaky(`${gtid}/pacs-undo`, input.pacsUndoFailures, 'imaging slot service unavailable');
        return Promise.resolve();
      },
    },
    {
      name: 'pharmacy',
      action: (input) => {
        if (input.refuse) throw new StepRefusedError('out of stock');
        return Promise.resolve({ dispensed: 14 });
      },
      compensate: () => Promise.resolve(),
    },
  ]);

  const orchestrator = (name: string) =>
    new SagaOrchestrator(new PostgresSagaLog(db), [workflow], {
      name,
      retryBaseMs: 1,
      retryMaxMs: 5,
      compensationAttempts: 2,
      recoveryRetryBaseMs: 1,
      recoveryRetryMaxMs: 5,
    });

  let completed: string;
  let compensated: string;
  let recovered: string;

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_saga_browser', sagaMigrations);
    drop = created.drop;
    db = new Database({ ...created.settings, poolSize: 4 }, 'saga-browser-test');
    browser = new PostgresSagaBrowser(db);
    const first = orchestrator('replica-a');
    completed = (await first.start(workflow, { pacsFailures: 1 }, { correlationId: 'plan-1001' })).gtid;
    compensated = (await first.start(workflow, { refuse: true }, { correlationId: 'plan-1002' })).gtid;
    const left = await first.start(workflow, { refuse: true, pacsUndoFailures: 3 });
    expect(left).toMatchObject({ outcome: 'aborted', compensated: false });
    recovered = left.gtid;
    // The compensation left to recovery: claimable once its short back-off ran out.
    const second = orchestrator('replica-b');
    for (let round = 0; round < 50 && (await browser.get(recovered))?.state !== 'aborted'; round += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await second.recover();
    }
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  const events = (record: ListedTransaction | undefined) => record?.timeline.map((entry) => entry.event);

  it('lists a completed saga: its steps done, every attempt in the timeline, the repeated one a retry', async () => {
    const record = await browser.get(completed);
    expect(record).toMatchObject({
      gtid: completed,
      correlationId: 'plan-1001',
      style: 'saga',
      state: 'completed',
      branches: [
        { participant: 'appointments', state: 'done' },
        { participant: 'pacs', state: 'done' },
        { participant: 'pharmacy', state: 'done' },
      ],
      retries: 1,
    });
    expect(record?.lastError).toBeUndefined();
    expect(events(record)).toEqual([
      'started (treatment-plan)',
      'appointments started (attempt 1)',
      'appointments done',
      'pacs started (attempt 1)',
      'pacs started (attempt 2)',
      'pacs done',
      'pharmacy started (attempt 1)',
      'pharmacy done',
      'completed',
    ]);
  });

  it('lists a compensated saga: the refusal on its step, each compensation, last step first', async () => {
    const record = await browser.get(compensated);
    expect(record).toMatchObject({
      state: 'aborted',
      branches: [
        { participant: 'appointments', state: 'compensated' },
        { participant: 'pacs', state: 'compensated' },
        { participant: 'pharmacy', state: 'compensated', reason: 'pharmacy refused: out of stock' },
      ],
      retries: 0,
      lastError: 'pharmacy refused: out of stock',
    });
    expect(events(record)).toEqual([
      'started (treatment-plan)',
      'appointments started (attempt 1)',
      'appointments done',
      'pacs started (attempt 1)',
      'pacs done',
      'pharmacy started (attempt 1)',
      'pharmacy refused: out of stock',
      'pharmacy compensating (attempt 1)',
      'pharmacy compensated',
      'pacs compensating (attempt 1)',
      'pacs compensated',
      'appointments compensating (attempt 1)',
      'appointments compensated',
      'aborted',
    ]);
  });

  it('lists a saga recovery finished: given back, claimed by the other replica, compensations retried', async () => {
    const record = await browser.get(recovered);
    expect(record).toMatchObject({ state: 'aborted' });
    expect(record?.correlationId).toBeUndefined();
    expect(record?.lastError).toMatch(/^compensation of pacs not done yet/);
    const timeline = events(record) ?? [];
    const given = timeline.indexOf('given back to recovery');
    expect(timeline.slice(0, given + 1)).toEqual([
      'started (treatment-plan)',
      'appointments started (attempt 1)',
      'appointments done',
      'pacs started (attempt 1)',
      'pacs done',
      'pharmacy started (attempt 1)',
      'pharmacy refused: out of stock',
      'pharmacy compensating (attempt 1)',
      'pharmacy compensated',
      'pacs compensating (attempt 1)',
      'pacs compensating (attempt 2)',
      'given back to recovery',
    ]);
    expect(timeline.slice(-4)).toEqual([
      'pacs compensated',
      'appointments compensating (attempt 1)',
      'appointments compensated',
      'aborted',
    ]);
    expect(timeline).toContain('claimed by replica-b');
    // Three failed compensations of pacs and one success: three repeats of it, and each run given back.
    const givenBack = timeline.filter((event) => event === 'given back to recovery').length;
    expect(record?.retries).toBe(3 + givenBack);
    const instants = record?.timeline.map((entry) => Date.parse(entry.at)) ?? [];
    expect(instants).toEqual([...instants].sort((a, b) => a - b));
    expect(Date.parse(record?.updatedAt ?? '')).toBeGreaterThanOrEqual(instants[instants.length - 1]);
  });

  it('lists newest first and filters by style, state, correlation id, before and limit in SQL', async () => {
    const all = await browser.list({ limit: 50 });
    expect(all.map((r) => r.gtid)).toEqual([recovered, compensated, completed]);
    expect(await browser.list({ limit: 50, style: 'tcc' })).toEqual([]);
    expect((await browser.list({ limit: 50, style: 'saga' })).map((r) => r.gtid)).toEqual(
      all.map((r) => r.gtid),
    );
    expect((await browser.list({ limit: 50, state: 'aborted' })).map((r) => r.gtid)).toEqual([
      recovered,
      compensated,
    ]);
    expect(await browser.list({ limit: 50, state: 'running' })).toEqual([]);
    expect((await browser.list({ limit: 50, correlationId: 'plan-1002' })).map((r) => r.gtid)).toEqual([
      compensated,
    ]);
    const before = all.find((r) => r.gtid === compensated)?.createdAt;
    expect((await browser.list({ limit: 50, before })).map((r) => r.gtid)).toEqual([completed]);
    expect((await browser.list({ limit: 1 })).map((r) => r.gtid)).toEqual([recovered]);
    expect(await browser.get('no-such-saga')).toBeUndefined();
  });

  it('never shows what the saga carried: neither its input nor its steps’ results', async () => {
    const text = JSON.stringify(await browser.list({ limit: 50 }));
    for (const carried of ['pacsUndoFailures', 'pacsFailures', '"slot"', '"study"', '"dispensed"'])
      expect(text).not.toContain(carried);
  });
});
