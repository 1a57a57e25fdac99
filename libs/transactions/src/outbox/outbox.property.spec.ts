import fc from 'fast-check';
import { checkComplete, checkSafety } from '../testing/outbox-oracle';
import { EventPlan, Scenario, Step, StepKind, TxPlan } from '../testing/outbox-scenario';
import { OutboxWorld } from '../testing/outbox-world';

/**
 * Property-based spec of the outbox / inbox style: the real `OutboxRelay` and `InboxConsumer` over the
 * in-memory outbox, inbox and broker of `../testing`, under random schedules of producer transactions
 * (some rolled back, some lost to a producer database crash), 1–2 relays per producer (batches confirmed
 * in halves, relays killed anywhere before the mark), broker outages (in-flight publishes cut short,
 * consumer channels dropped), duplicates, streams of different aggregates interleaved, 1–2 consumer replicas
 * (single active consumer; crashes before and after the commit, channel losses with the old batch still
 * committing, transactions held open while another replica works), a handler that rejects designated
 * messages for good and fails transiently, delayed retries (nack + requeue at the front or the back), and
 * routing keys left without a bound queue for a while (the broker returns what is published to them).
 *
 * Safety after every step: no effect twice, none from a rolled-back transaction, none of a poison message;
 * per (source, aggregate) no message applied before every earlier one was applied or dead-lettered (with
 * patience to spare, every decision in sequence order); no outbox message marked published that never
 * reached the queue, nor ahead of an earlier message of its aggregate. After healing and draining:
 * every committed event applied exactly once (poison ones dead-lettered exactly once, in the dead-letter
 * queue, without effect), nothing pending in any outbox, nothing left in the broker.
 *
 * A failure prints fast-check's seed and path and the run's trace; replay with FC_SEED=<seed> FC_PATH=<path>.
 */

// --- arbitraries -----------------------------------------------------------------------------------------

const eventPlan: fc.Arbitrary<EventPlan> = fc.record({
  aggregate: fc.nat(3),
  route: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.constant(1), weight: 1 }),
  poison: fc.oneof(
    { arbitrary: fc.constant(false), weight: 12 },
    { arbitrary: fc.constant(true), weight: 1 },
  ),
  transient: fc.oneof(
    { arbitrary: fc.constant(0), weight: 4 },
    { arbitrary: fc.integer({ min: 1, max: 2 }), weight: 1 },
  ),
});

const txPlan: fc.Arbitrary<TxPlan> = fc.record({
  source: fc.nat(1),
  events: fc.array(eventPlan, { minLength: 1, maxLength: 3 }),
  rollback: fc.oneof(
    { arbitrary: fc.constant(false), weight: 4 },
    { arbitrary: fc.constant(true), weight: 1 },
  ),
});

const slot = fc.nat(3);

const stepArbitraries: Record<StepKind, fc.Arbitrary<Step>> = {
  begin: fc.constant({ t: 'begin' as const }),
  finish: fc.record({ t: fc.constant('finish' as const), pick: fc.nat(7) }),
  relay: fc.record(
    {
      t: fc.constant('relay' as const),
      relay: slot,
      killAt: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 8 },
        { arbitrary: fc.constant('outbox.relay.mid-batch' as const), weight: 1 },
        { arbitrary: fc.constant('outbox.relay.after-publish' as const), weight: 1 },
      ),
    },
    { requiredKeys: ['t', 'relay'] },
  ),
  confirm: fc.record({ t: fc.constant('confirm' as const), relay: slot }),
  killRelay: fc.record({ t: fc.constant('killRelay' as const), relay: slot }),
  deliver: fc.record({
    t: fc.constant('deliver' as const),
    max: fc.integer({ min: 1, max: 5 }),
    hold: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
    crashAfterCommit: fc.oneof(
      { arbitrary: fc.constant(false), weight: 8 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
  }),
  resume: fc.constant({ t: 'resume' as const }),
  nack: fc.record({ t: fc.constant('nack' as const), pick: fc.nat(7) }),
  killConsumer: fc.record({ t: fc.constant('killConsumer' as const), replica: fc.nat(1) }),
  loseChannel: fc.record({ t: fc.constant('loseChannel' as const), replica: fc.nat(1) }),
  restartConsumer: fc.record({ t: fc.constant('restartConsumer' as const), replica: fc.nat(1) }),
  outage: fc.constant({ t: 'outage' as const }),
  restore: fc.constant({ t: 'restore' as const }),
  duplicate: fc.constant({ t: 'duplicate' as const }),
  dbCrash: fc.record({ t: fc.constant('dbCrash' as const), source: fc.nat(1) }),
  unbind: fc.record({ t: fc.constant('unbind' as const), route: fc.nat(1) }),
  bind: fc.record({ t: fc.constant('bind' as const), route: fc.nat(1) }),
  backoff: fc.constant({ t: 'backoff' as const }),
};

function steps(weights: Partial<Record<StepKind, number>>, maxLength: number): fc.Arbitrary<Step[]> {
  const choices = (Object.keys(weights) as StepKind[])
    .filter((kind) => (weights[kind] ?? 0) > 0)
    .map((kind) => ({ arbitrary: stepArbitraries[kind], weight: weights[kind] ?? 0 }));
  return fc.array(fc.oneof(...choices), { minLength: 30, maxLength, size: 'max' });
}

function scenario(
  stepPlan: fc.Arbitrary<Step[]>,
  replicas = fc.integer({ min: 1, max: 2 }),
): fc.Arbitrary<Scenario> {
  return fc.record({
    sources: fc.integer({ min: 1, max: 2 }),
    relaysPerSource: fc.integer({ min: 1, max: 2 }),
    replicas,
    claimLocks: fc.constantFrom('all-free' as const, 'needed' as const),
    batchSize: fc.integer({ min: 1, max: 5 }),
    prefetch: fc.integer({ min: 1, max: 5 }),
    interleave: fc.boolean(),
    transactions: fc.array(txPlan, { minLength: 1, maxLength: 10 }),
    steps: stepPlan,
    seed: fc.integer(),
  });
}

// --- running ---------------------------------------------------------------------------------------------

function failure(world: OutboxWorld, what: string, problems: string[]): Error {
  const tail = world.trace.slice(-80).join('\n  ');
  return new Error(`${what}:\n  ${problems.join('\n  ')}\n--- trace (last steps)\n  ${tail}`);
}

/** `maxAttempts` high: order is strict and nothing healthy is ever dead-lettered. */
async function run(s: Scenario, maxAttempts: number): Promise<void> {
  const strict = maxAttempts >= 1_000;
  const world = new OutboxWorld(s, maxAttempts);
  for (const step of s.steps) {
    await world.apply(step);
    const problems = checkSafety(world, strict);
    if (problems.length > 0) throw failure(world, `unsafe after step ${JSON.stringify(step)}`, problems);
  }
  await world.heal();
  const problems = [...checkSafety(world, strict), ...checkComplete(world, strict)];
  if (problems.length > 0) throw failure(world, 'not every committed event delivered exactly once', problems);
}

function assertProperty(
  arbitrary: fc.Arbitrary<Scenario>,
  maxAttempts: number,
  numRuns: number,
): Promise<void> {
  const { FC_SEED, FC_PATH } = process.env;
  const replay =
    FC_SEED === undefined
      ? {}
      : { seed: Number(FC_SEED), ...(FC_PATH === undefined ? {} : { path: FC_PATH, endOnFailure: true }) };
  return fc.assert(
    fc.asyncProperty(arbitrary, (s) => run(s, maxAttempts)),
    { numRuns, ...replay },
  );
}

const mixed = {
  begin: 8,
  finish: 8,
  relay: 10,
  confirm: 14,
  killRelay: 2,
  deliver: 18,
  resume: 3,
  nack: 5,
  killConsumer: 2,
  loseChannel: 2,
  restartConsumer: 4,
  outage: 1,
  restore: 4,
  duplicate: 3,
  dbCrash: 1,
  unbind: 1,
  bind: 2,
  backoff: 2,
};

describe('transactional outbox and inbox under random faults (property)', () => {
  it('applies every committed event exactly once and in order per aggregate; nothing of a rolled-back one', async () => {
    await assertProperty(scenario(steps(mixed, 200)), 10_000, 1000);
  }, 120_000);

  it('consumer-heavy: held transactions, channel losses and crashes with two replicas working at once', async () => {
    await assertProperty(
      scenario(
        steps(
          {
            ...mixed,
            deliver: 24,
            resume: 5,
            loseChannel: 5,
            killConsumer: 3,
            restartConsumer: 6,
            outage: 0,
            dbCrash: 0,
          },
          200,
        ),
        fc.constant(2),
      ),
      10_000,
      300,
    );
  }, 120_000);

  it('with production-like patience (few attempts): every committed event applied once or dead-lettered once', async () => {
    await assertProperty(scenario(steps(mixed, 200)), 4, 400);
  }, 120_000);

  it('routing keys without a queue for a while: nothing lost, nothing counted delivered that was not routed', async () => {
    const routing = { ...mixed, unbind: 6, bind: 5, backoff: 6, relay: 14, confirm: 18 };
    await assertProperty(scenario(steps(routing, 200)), 10_000, 300);
    await assertProperty(scenario(steps(routing, 200)), 4, 200);
  }, 120_000);
});
