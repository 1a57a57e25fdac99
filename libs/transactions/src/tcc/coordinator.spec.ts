import { TccLeaseLostError } from '../ports/tcc.ports';
import { MemoryTransactionRunner } from '../testing/memory-session';
import { InMemoryTccBarrier, InMemoryTccLog, TccLogStore } from '../testing/tcc-memory';
import { VirtualClock } from '../testing/virtual-clock';
import { TccCoordinator } from './coordinator';
import { defineTcc, TccBranchContext, TccUnfinishedError, TccWorkflow } from './types';

/**
 * The TCC coordinator's edges on the in-memory log, with participants behind the in-memory barrier: a
 * Confirm that keeps failing is left to recovery with `settled: false` and finished by it; a replica whose
 * lease was taken over cannot decide; workflows and options that cannot keep the promises are refused.
 */
describe('TCC coordinator', () => {
  const clock = new VirtualClock();
  const options = { leaseMs: 1_000, callTimeoutMs: 100, retryBaseMs: 1, retryMaxMs: 2, phaseTwoAttempts: 2 };

  /** Participants: each op through the barrier; `failConfirms` Confirms of pacs fail before the barrier. */
  function participants(failConfirms = 0) {
    const barrier = new InMemoryTccBarrier();
    const db = new MemoryTransactionRunner();
    const applied: string[] = [];
    let confirmFailures = failConfirms;
    const op =
      (kind: 'try' | 'confirm' | 'cancel') =>
      async (_input: unknown, key: TccBranchContext): Promise<void> => {
        if (kind === 'confirm' && key.branch === 'pacs' && confirmFailures-- > 0)
          throw new Error('pacs restarting');
        await db.transaction((tx) =>
          barrier[kind](tx, key, () =>
            Promise.resolve(tx.onCommit(() => applied.push(`${kind} ${key.branch}`))),
          ),
        );
      };
    const workflow: TccWorkflow<unknown> = defineTcc(
      'treatment-plan',
      ['appointments', 'pacs'].map((name) => ({
        name,
        try: op('try'),
        confirm: op('confirm'),
        cancel: op('cancel'),
      })),
    );
    return { workflow, applied };
  }

  /** Runs `promise` while firing the virtual clock's timers (back-offs) until it settles. */
  async function driven<T>(promise: Promise<T>): Promise<T> {
    let outcome: { value: T } | { error: unknown } | undefined;
    promise.then(
      (value) => (outcome = { value }),
      (error: unknown) => (outcome = { error }),
    );
    while (!outcome) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      clock.fireNext();
    }
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  }

  it('leaves a confirm that keeps failing to recovery, which confirms it once the participant is back', async () => {
    const store = new TccLogStore(clock);
    const { workflow, applied } = participants(3);
    const tcc = new TccCoordinator(
      new InMemoryTccLog(store),
      [workflow],
      { name: 'a', ...options },
      undefined,
      undefined,
      clock,
    );
    const result = await driven(tcc.run(workflow, { plan: 1 }));
    expect(result).toEqual({ gtid: result.gtid, outcome: 'confirmed', settled: false });
    expect(store.transactions.get(result.gtid)?.record).toMatchObject({ state: 'confirming', retries: 1 });
    clock.advance(options.leaseMs);
    const recovered = await driven(tcc.recover());
    expect(recovered).toBe(1);
    expect(store.transactions.get(result.gtid)?.record.state).toBe('confirmed');
    expect(applied.sort()).toEqual(['confirm appointments', 'confirm pacs', 'try appointments', 'try pacs']);
  });

  it('refuses the decision of a replica whose lease another one claimed', async () => {
    const store = new TccLogStore(clock);
    const { workflow } = participants();
    const log = new InMemoryTccLog(store);
    const lease = await log.begin(
      { gtid: 'g-stalled', workflow: workflow.name, input: {}, branches: ['appointments', 'pacs'] },
      'a',
      100,
    );
    clock.advance(200);
    const [claimed] = await log.claimUnfinished('b', 5, 1_000);
    expect(claimed.lease.gtid).toBe('g-stalled');
    await expect(log.decide(lease, 'confirming')).rejects.toBeInstanceOf(TccLeaseLostError);
    await log.decide(claimed.lease, 'cancelling', 'stalled coordinator');
    expect(store.transactions.get('g-stalled')?.record.state).toBe('cancelling');
    expect(store.violations).toEqual([]);
  });

  it('answers TccUnfinishedError when its log fails before the decision', async () => {
    const { workflow } = participants();
    const log = new InMemoryTccLog(new TccLogStore(clock));
    log.decide = () => Promise.reject(new Error('database unavailable'));
    const tcc = new TccCoordinator(log, [workflow], { name: 'a', ...options }, undefined, undefined, clock);
    await expect(driven(tcc.run(workflow, {}))).rejects.toBeInstanceOf(TccUnfinishedError);
  });

  it('refuses options that cannot keep the promises and workflows it does not know', async () => {
    const { workflow } = participants();
    const log = new InMemoryTccLog(new TccLogStore(clock));
    expect(
      () => new TccCoordinator(log, [workflow], { name: 'a', leaseMs: 100, callTimeoutMs: 100 }),
    ).toThrow(/leaseMs/);
    expect(() => new TccCoordinator(log, [workflow], { name: 'a', phaseTwoAttempts: 0 })).toThrow(
      /phaseTwoAttempts/,
    );
    expect(() => new TccCoordinator(log, [workflow, workflow], { name: 'a' })).toThrow(/twice/);
    expect(() => defineTcc('plan', [])).toThrow(/no participants/);
    const other = participants().workflow;
    await expect(new TccCoordinator(log, [workflow], { name: 'a' }).run(other, {})).rejects.toThrow(
      /not registered/,
    );
  });
});
