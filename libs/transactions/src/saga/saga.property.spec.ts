import fc from 'fast-check';
import { replayParameters } from '../testing/fast-check-replay';
import { scheduleFailure, weightedSchedule } from '../testing/schedule-property';
import { seededRandom } from '../testing/seeded-random';
import {
  checkSagaOutcomes,
  checkSagaSafety,
  SagaInput,
  SagaScenario,
  SagaScheduleStep,
  SagaWorld,
  StepPlan,
} from '../testing/saga-world';

/**
 * Property-based spec of the orchestrated saga: the real `SagaOrchestrator` in one or two processes over
 * the in-memory saga log of `../testing`, running random workflows (1–4 steps; each action succeeds, is
 * refused, or fails transiently a few times — before or after taking effect; each compensation fails
 * transiently a few times) under random schedules: log writes and participant calls answered in any
 * order, processes killed at any moment (their requests vanish, take effect unanswered, or linger and
 * land later) or at a saga protocol point, restarted, running recovery sweeps (two racing), and time advancing past back-offs,
 * step time-outs (a timed-out call may still arrive late) and leases.
 *
 * Safety after every step: legal log transitions only; every participant call made by the orchestrator
 * holding the saga's lease; actions take effect in step order and never once compensation began;
 * compensations take effect in reverse step order. Once healed and drained: every saga completed (every
 * action applied, no compensation) or aborted (every action that took effect compensated, every step
 * whose action was called compensated even with nothing to undo, no step after the failed one run), its lease released, and what `start` answered agrees with the log.
 *
 * A failure prints fast-check's seed and path and the run's trace; replay with FC_SEED=<seed> FC_PATH=<path>.
 */

const stepPlan: fc.Arbitrary<StepPlan> = fc.record({
  action: fc.oneof(
    { arbitrary: fc.constant({ kind: 'ok' as const }), weight: 6 },
    { arbitrary: fc.constant({ kind: 'refuse' as const }), weight: 1 },
    {
      arbitrary: fc.record({
        kind: fc.constant('transient' as const),
        failures: fc.integer({ min: 1, max: 4 }),
        lostReply: fc.boolean(),
      }),
      weight: 2,
    },
  ),
  compensationFailures: fc.oneof(
    { arbitrary: fc.constant(0), weight: 3 },
    { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 2 },
  ),
});

const sagaInput: fc.Arbitrary<SagaInput> = fc.record({
  plan: fc.array(stepPlan, { minLength: 1, maxLength: 4 }),
});

type Kind = SagaScheduleStep['t'];

const proc = fc.nat(1);

const stepArbitraries: Record<Kind, fc.Arbitrary<SagaScheduleStep>> = {
  start: fc.record({ t: fc.constant('start' as const), proc }),
  deliver: fc.record({ t: fc.constant('deliver' as const), pick: fc.nat(7) }),
  crash: fc.record({
    t: fc.constant('crash' as const),
    proc,
    requests: fc.constantFrom('vanish' as const, 'effect' as const, 'linger' as const),
  }),
  crashAt: fc.record({ t: fc.constant('crashAt' as const), proc, point: fc.nat(4) }),
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

function steps(weights: Record<Kind, number>, maxLength: number): fc.Arbitrary<SagaScheduleStep[]> {
  return weightedSchedule(stepArbitraries, weights, maxLength);
}

function scenario(
  schedule: fc.Arbitrary<SagaScheduleStep[]>,
  processes: fc.Arbitrary<number> = fc.integer({ min: 1, max: 2 }),
): fc.Arbitrary<SagaScenario & { seed: number }> {
  return fc.record({
    processes,
    sagas: fc.array(sagaInput, { minLength: 1, maxLength: 4 }),
    options: fc.record({
      leaseMs: fc.constantFrom(600, 2_000),
      stepTimeoutMs: fc.constantFrom(100, 300),
      stepAttempts: fc.integer({ min: 1, max: 3 }),
      compensationAttempts: fc.integer({ min: 1, max: 3 }),
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

function failure(world: SagaWorld, what: string, problems: string[]): Error {
  return scheduleFailure(world.trace, what, problems);
}

async function run(s: SagaScenario & { seed: number }): Promise<void> {
  // The orchestrator's back-off jitter is the only randomness that steers a run.
  const random = jest.spyOn(Math, 'random').mockImplementation(seededRandom(s.seed));
  try {
    const world = new SagaWorld(s);
    for (const step of s.steps) {
      await world.apply(step);
      const problems = checkSagaSafety(world);
      if (problems.length > 0) throw failure(world, `unsafe after step ${JSON.stringify(step)}`, problems);
    }
    // Whatever the schedule did not start is started now, on a healed world.
    const drained = await world.drain();
    for (let i = 0; i < s.sagas.length; i += 1) await world.apply({ t: 'start', proc: i });
    const finished = drained && (await world.drain());
    const problems = [...checkSagaSafety(world), ...checkSagaOutcomes(world)];
    if (!finished)
      problems.push(
        `unfinished after recovery: ${world
          .unfinished()
          .map((r) => r.gtid)
          .join(', ')}`,
      );
    // A start whose process died before its saga was logged leaves nothing; none is logged twice.
    if (world.store.sagas.size > s.sagas.length)
      problems.push(`${world.store.sagas.size} sagas in the log, ${s.sagas.length} started`);
    if (problems.length > 0) throw failure(world, 'not every saga completed or aborted', problems);
  } finally {
    random.mockRestore();
  }
}

function assertProperty(arbitrary: fc.Arbitrary<SagaScenario & { seed: number }>, numRuns: number) {
  return fc.assert(
    fc.asyncProperty(arbitrary, (s) => run(s)),
    { numRuns, ...replayParameters() },
  );
}

const mixed: Record<Kind, number> = {
  start: 4,
  deliver: 30,
  crash: 2,
  crashAt: 2,
  restart: 3,
  recover: 4,
  advance: 8,
};

describe('orchestrated saga under crashes, time-outs and racing recoverers (property)', () => {
  it('every saga ends completed or aborted with the effects that says, in order', async () => {
    await assertProperty(scenario(steps(mixed, 120)), 300);
  }, 120_000);

  it('crash-heavy: processes killed anywhere, two recoverers racing over the same sagas', async () => {
    const heavy = { ...mixed, crash: 6, crashAt: 6, restart: 8, recover: 10, advance: 10 };
    await assertProperty(scenario(steps(heavy, 150), fc.constant(2)), 200);
  }, 120_000);

  it('slow participants: time-outs and leases run out while calls are in flight, late calls arrive', async () => {
    const slow = { ...mixed, deliver: 20, advance: 20, recover: 8 };
    await assertProperty(scenario(steps(slow, 150), fc.constant(2)), 200);
  }, 120_000);
});
