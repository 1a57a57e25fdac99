import fc from 'fast-check';
import { replayParameters } from '../testing/fast-check-replay';
import { scheduleFailure, weightedSchedule } from '../testing/schedule-property';
import { seededRandom } from '../testing/seeded-random';
import {
  checkTccOutcomes,
  TccBranchPlan,
  TccScenario,
  TccScheduleStep,
  TccWorld,
} from '../testing/tcc-world';

/**
 * Property-based spec of TCC: the real `TccCoordinator` in one or two processes over the in-memory log,
 * and three participants behind the real barrier (its in-memory twin), under random schedules: each Try
 * reserves or is refused, or times out because the schedule does not deliver it in time; calls delivered
 * in any order (a Try landing after its Cancel), duplicated, their replies lost; Confirms and Cancels
 * failing a few times; coordinators killed at any moment or at a TCC protocol point, restarted, two
 * recoverers racing; time advancing past time-outs, back-offs and leases. Then the world is healed and
 * drained, and a late Try of every branch is sent once more.
 *
 * Checked: every transaction ends confirmed in every branch or cancelled in every branch; each effect
 * at most once; a confirmed one reserved and applied exactly once per branch, never confirmed when a Try
 * was refused; a cancelled one never applied, every reservation released (nothing left reserved), and the
 * late Tries with no effect; the barrier never asked for an illegal Confirm or Cancel; legal log moves; and
 * `run`'s answer agreeing with the log. Replay a failure with FC_SEED=<seed> FC_PATH=<path>.
 */

const branch: fc.Arbitrary<TccBranchPlan> = fc.record({
  try: fc.oneof(
    { arbitrary: fc.constant('ok' as const), weight: 5 },
    { arbitrary: fc.constant('refuse' as const), weight: 1 },
  ),
  phaseTwoFailures: fc.oneof(
    { arbitrary: fc.constant(0), weight: 3 },
    { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 1 },
  ),
});

type Kind = TccScheduleStep['t'];
const proc = fc.nat(1);

const stepArbitraries: Record<Kind, fc.Arbitrary<TccScheduleStep>> = {
  start: fc.record({ t: fc.constant('start' as const), proc }),
  deliver: fc.record({ t: fc.constant('deliver' as const), pick: fc.nat(11), lose: fc.boolean() }),
  duplicate: fc.record({ t: fc.constant('duplicate' as const), pick: fc.nat(11) }),
  crash: fc.record({ t: fc.constant('crash' as const), proc }),
  crashAt: fc.record({ t: fc.constant('crashAt' as const), proc, point: fc.nat(2) }),
  restart: fc.record({ t: fc.constant('restart' as const), proc }),
  recover: fc.record({ t: fc.constant('recover' as const), proc }),
  advance: fc.record({
    t: fc.constant('advance' as const),
    ms: fc.oneof(
      { arbitrary: fc.integer({ min: 1, max: 150 }), weight: 3 },
      { arbitrary: fc.integer({ min: 150, max: 3_000 }), weight: 1 },
    ),
  }),
};

function steps(weights: Record<Kind, number>, maxLength: number): fc.Arbitrary<TccScheduleStep[]> {
  return weightedSchedule(stepArbitraries, weights, maxLength);
}

function scenario(
  schedule: fc.Arbitrary<TccScheduleStep[]>,
  processes: fc.Arbitrary<number> = fc.integer({ min: 1, max: 2 }),
): fc.Arbitrary<TccScenario & { seed: number }> {
  return fc.record({
    processes,
    transactions: fc.array(fc.record({ branches: fc.array(branch, { minLength: 3, maxLength: 3 }) }), {
      minLength: 1,
      maxLength: 4,
    }),
    options: fc.record({
      leaseMs: fc.constantFrom(600, 2_000),
      callTimeoutMs: fc.constantFrom(100, 300),
      phaseTwoAttempts: fc.integer({ min: 1, max: 3 }),
      retryBaseMs: fc.constant(10),
      retryMaxMs: fc.constantFrom(40, 200),
      recoveryRetryBaseMs: fc.constant(50),
      recoveryRetryMaxMs: fc.constantFrom(100, 800),
      recoveryBatch: fc.integer({ min: 1, max: 4 }),
    }),
    steps: schedule,
    seed: fc.integer(),
  });
}

function failure(world: TccWorld, what: string, problems: string[]): Error {
  return scheduleFailure(world.trace, what, problems);
}

async function run(s: TccScenario & { seed: number }): Promise<void> {
  // The coordinator's back-off jitter is the only randomness that steers a run.
  const random = jest.spyOn(Math, 'random').mockImplementation(seededRandom(s.seed));
  try {
    const world = new TccWorld(s);
    for (const step of s.steps) await world.apply(step);
    // Whatever the schedule did not start is started now, on a healed world.
    const drained = await world.drain();
    for (let i = 0; i < s.transactions.length; i += 1) await world.apply({ t: 'start', proc: i });
    const finished = drained && (await world.drain());
    await world.lateTries();
    const problems = checkTccOutcomes(world);
    if (!finished)
      problems.push(
        `unfinished after recovery: ${world
          .unfinished()
          .map((r) => `${r.gtid} ${r.state}`)
          .join(', ')}`,
      );
    if (world.store.transactions.size !== s.transactions.length)
      problems.push(
        `${world.store.transactions.size} transactions in the log, ${s.transactions.length} started`,
      );
    if (problems.length > 0)
      throw failure(world, 'not every transaction confirmed or cancelled everywhere', problems);
  } finally {
    random.mockRestore();
  }
}

function assertProperty(arbitrary: fc.Arbitrary<TccScenario & { seed: number }>, numRuns: number) {
  return fc.assert(
    fc.asyncProperty(arbitrary, (s) => run(s)),
    { numRuns, ...replayParameters() },
  );
}

const mixed: Record<Kind, number> = {
  start: 4,
  deliver: 30,
  duplicate: 4,
  crash: 2,
  crashAt: 2,
  restart: 3,
  recover: 4,
  advance: 8,
};

describe('TCC under crashes, time-outs, duplicated and reordered calls, racing recoverers (property)', () => {
  it('every transaction ends confirmed or cancelled in every branch, each effect once', async () => {
    await assertProperty(scenario(steps(mixed, 120)), 300);
  }, 120_000);

  it('crash-heavy: coordinators killed anywhere, two recoverers racing over the same transactions', async () => {
    const heavy = { ...mixed, crash: 6, crashAt: 6, restart: 8, recover: 10, advance: 10 };
    await assertProperty(scenario(steps(heavy, 150), fc.constant(2)), 200);
  }, 120_000);

  it('slow network: tries time out while in flight, duplicates and late tries land after their cancel', async () => {
    const slow = { ...mixed, deliver: 15, duplicate: 10, advance: 20, recover: 8 };
    await assertProperty(scenario(steps(slow, 150), fc.constant(2)), 200);
  }, 120_000);
});
