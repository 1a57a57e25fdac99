import fc from 'fast-check';
import { checkComplete, checkReconciled, checkSafety } from '../testing/best-effort-oracle';
import { BestEffortScenario, BestEffortStep, BestEffortWorld, Fate } from '../testing/best-effort-world';
import { DeliveryPolicy } from './dispatcher';

/**
 * Property-based spec of best-effort notification: the real `BestEffortDispatcher` over the in-memory
 * notification store of `../testing`, under random schedules of producer transactions (open across
 * steps, committed or rolled back), one or two dispatchers (replicas) claiming side by side, channel
 * answers (delivered, retryable, permanent, a reply lost after the receiver got it, a throw, none until
 * the time-out), dispatchers killed mid-attempt and restarted, dispatchers whose store requests stall
 * until their leases run out (so their late outcomes meet another dispatcher's claim), clock advances that expire time-outs,
 * back-offs and leases, operator replays, and a receiver reconciling page by page meanwhile.
 *
 * Safety after every step: nothing received that was not committed (a rolled-back change leaves no
 * notification); no notification claimed by a second dispatcher while a first one's lease holds; no
 * round longer than `maxAttempts`; delivered only what the receiver got; dead-lettered only after a
 * rejection or a full round; attempts recorded match the deliveries tried; reconciliation never returns
 * one twice or one that is not committed. After healing and draining: every committed notification
 * delivered (its key once in the receiver's de-duplicated ledger) or dead-lettered; back-off delays within
 * bounds; after replaying the dead letters, every one delivered; reconciliation paged on to the end returns
 * exactly the receiver's committed notifications.
 *
 * A failure prints fast-check's seed and path and the run's trace; replay with FC_SEED=<seed> FC_PATH=<path>.
 */

const policy: fc.Arbitrary<DeliveryPolicy> = fc
  .record({
    batchSize: fc.integer({ min: 1, max: 4 }),
    attemptTimeoutMs: fc.integer({ min: 50, max: 500 }),
    leaseSlackMs: fc.integer({ min: 1, max: 1_000 }),
    maxAttempts: fc.integer({ min: 1, max: 5 }),
    baseDelayMs: fc.integer({ min: 1, max: 200 }),
    capFactor: fc.integer({ min: 1, max: 20 }),
    jitter: fc.constantFrom('full' as const, 'decorrelated' as const),
  })
  .map((p) => ({
    batchSize: p.batchSize,
    pollMs: 100,
    attemptTimeoutMs: p.attemptTimeoutMs,
    leaseMs: p.attemptTimeoutMs + p.leaseSlackMs,
    maxAttempts: p.maxAttempts,
    backoff: { baseDelayMs: p.baseDelayMs, maxDelayMs: p.baseDelayMs * p.capFactor, jitter: p.jitter },
  }));

const fate: fc.Arbitrary<Fate> = fc.oneof(
  { arbitrary: fc.constant('ok' as const), weight: 5 },
  { arbitrary: fc.constant('fail' as const), weight: 3 },
  { arbitrary: fc.constant('reject' as const), weight: 1 },
  { arbitrary: fc.constant('lost-reply' as const), weight: 2 },
  { arbitrary: fc.constant('throw' as const), weight: 1 },
);

type Kind = BestEffortStep['t'];

const stepArbitraries: Record<Kind, fc.Arbitrary<BestEffortStep>> = {
  begin: fc.record({
    t: fc.constant('begin' as const),
    receiver: fc.nat(1),
    channel: fc.nat(1),
    count: fc.integer({ min: 1, max: 3 }),
  }),
  finish: fc.record({
    t: fc.constant('finish' as const),
    pick: fc.nat(5),
    rollback: fc.oneof(
      { arbitrary: fc.constant(false), weight: 4 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
  }),
  dispatch: fc.record({ t: fc.constant('dispatch' as const), dispatcher: fc.nat(1) }),
  answer: fc.record({ t: fc.constant('answer' as const), pick: fc.nat(7), fate }),
  advance: fc.record({
    t: fc.constant('advance' as const),
    ms: fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 100 }), weight: 3 },
      { arbitrary: fc.integer({ min: 100, max: 3_000 }), weight: 2 },
    ),
  }),
  stall: fc.record({ t: fc.constant('stall' as const), dispatcher: fc.nat(1) }),
  unstall: fc.record({ t: fc.constant('unstall' as const), dispatcher: fc.nat(1) }),
  crash: fc.record({ t: fc.constant('crash' as const), dispatcher: fc.nat(1) }),
  restart: fc.record({ t: fc.constant('restart' as const), dispatcher: fc.nat(1) }),
  reconcile: fc.record({ t: fc.constant('reconcile' as const), receiver: fc.nat(1) }),
  replay: fc.record({ t: fc.constant('replay' as const), pick: fc.nat(3) }),
};

function steps(weights: Record<Kind, number>, maxLength: number): fc.Arbitrary<BestEffortStep[]> {
  const choices = (Object.keys(weights) as Kind[])
    .filter((kind) => weights[kind] > 0)
    .map((kind) => ({ arbitrary: stepArbitraries[kind], weight: weights[kind] }));
  return fc.array(fc.oneof(...choices), { minLength: 20, maxLength, size: 'max' });
}

function scenario(stepPlan: fc.Arbitrary<BestEffortStep[]>): fc.Arbitrary<BestEffortScenario> {
  return fc.record({
    dispatchers: fc.integer({ min: 1, max: 2 }),
    policy,
    steps: stepPlan,
    seed: fc.integer(),
  });
}

function failure(world: BestEffortWorld, what: string, problems: string[]): Error {
  const tail = world.trace.slice(-60).join('\n  ');
  return new Error(`${what}:\n  ${problems.join('\n  ')}\n--- trace (last steps)\n  ${tail}`);
}

async function run(s: BestEffortScenario): Promise<void> {
  const world = new BestEffortWorld(s);
  for (const step of s.steps) {
    await world.apply(step);
    const problems = checkSafety(world);
    if (problems.length > 0) throw failure(world, `unsafe after step ${JSON.stringify(step)}`, problems);
  }
  await world.heal();
  const drained = await world.drain();
  const settled = [...checkSafety(world), ...checkComplete(world, false)];
  if (!drained) settled.push('the dispatchers did not drain the log');
  if (settled.length > 0) throw failure(world, 'not every notification delivered or dead-lettered', settled);
  await world.replayAll();
  const replayed = await world.drain();
  // Reconciliation from each receiver's cursor to the end: no transaction is open any more.
  for (const receiver of world.ledgers.keys()) while ((await world.reconcile(receiver, 4)) > 0);
  const final = [...checkSafety(world), ...checkComplete(world, true), ...checkReconciled(world)];
  if (!replayed) final.push('the dispatchers did not drain the replayed dead letters');
  if (final.length > 0) throw failure(world, 'not every notification delivered after replay', final);
}

function assertProperty(arbitrary: fc.Arbitrary<BestEffortScenario>, numRuns: number): Promise<void> {
  const { FC_SEED, FC_PATH } = process.env;
  const replay =
    FC_SEED === undefined
      ? {}
      : { seed: Number(FC_SEED), ...(FC_PATH === undefined ? {} : { path: FC_PATH, endOnFailure: true }) };
  return fc.assert(
    fc.asyncProperty(arbitrary, (s) => run(s)),
    { numRuns, ...replay },
  );
}

const mixed: Record<Kind, number> = {
  begin: 6,
  finish: 6,
  dispatch: 12,
  answer: 14,
  advance: 10,
  stall: 1,
  unstall: 2,
  crash: 1,
  restart: 3,
  reconcile: 3,
  replay: 1,
};

describe('best-effort notification under random faults (property)', () => {
  it('delivers every logged notification or dead-letters it, and never one that was not logged', async () => {
    await assertProperty(scenario(steps(mixed, 150)), 300);
  }, 120_000);

  it('dispatcher-heavy: two replicas claiming, crashing mid-attempt and restarting while leases run out', async () => {
    const heavy = {
      ...mixed,
      dispatch: 16,
      stall: 3,
      unstall: 3,
      crash: 4,
      restart: 6,
      advance: 14,
      answer: 10,
    };
    await assertProperty(
      scenario(steps(heavy, 150)).map((s) => ({ ...s, dispatchers: 2 })),
      200,
    );
  }, 120_000);

  it('flaky channels: failures and time-outs follow the back-off schedule and exhaust rounds', async () => {
    const flaky = { ...mixed, answer: 8, advance: 16 };
    const failing: fc.Arbitrary<BestEffortStep[]> = steps(flaky, 150).map((plan) =>
      plan.map((step) =>
        step.t === 'answer' && step.fate === 'ok' ? { ...step, fate: 'fail' as const } : step,
      ),
    );
    await assertProperty(scenario(failing), 200);
  }, 120_000);
});
