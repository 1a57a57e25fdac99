import fc from 'fast-check';
import { seededRandom, SimulatedTransaction, TwoPhaseWorld } from '../testing';

/**
 * Property-based tests of the two-phase commit core over the simulated world of `../testing`: random
 * workloads (several concurrent global transactions, YES and NO votes, coordinator work that writes or
 * fails) under random schedules of message delivery, loss, duplication, reordering and delay, time-outs,
 * crashes and restarts of any node at any step (between any two durable writes), network isolation,
 * recovery sweeps racing live transactions, storage errors (before or after the write took effect) and
 * crashes of the coordinator's database (losing its relaxed, unflushed writes).
 *
 * (a) Safety is checked after every single step (see TwoPhaseWorld.checkSafety).
 * (b) Liveness: once faults stop, the network is healed, every node restarted and recovery sweeps run
 *     with time advanced past every time-out, every transaction is fully committed or fully absent.
 *
 * A failure prints fast-check's seed and path; replay it with FC_SEED=<seed> FC_PATH=<path>.
 */

type Step =
  | { t: 'deliver'; pick: number }
  | { t: 'lose'; pick: number }
  | { t: 'duplicate'; pick: number }
  | { t: 'delay'; pick: number }
  | { t: 'release'; pick: number }
  | { t: 'tick' }
  | { t: 'advance'; ms: number }
  | { t: 'crash'; node: number }
  | { t: 'restart'; node: number }
  | { t: 'isolate'; node: number }
  | { t: 'rejoin'; node: number }
  | { t: 'recover'; node: number }
  | { t: 'sweep' }
  | { t: 'storageError'; pick: number; when: 'before' | 'after' }
  | { t: 'databaseCrash' }
  | { t: 'submit' };

type StepKind = Step['t'];

interface TxPlan {
  branches: { participant: number; vote: 'yes' | 'no' }[];
  local: 'none' | 'write' | 'throw';
}

interface Scenario {
  participants: number;
  replicas: number;
  transactions: TxPlan[];
  timing: {
    voteTimeoutMs: number;
    callTimeoutMs: number;
    inlineCommitAttempts: number;
    inDoubtAfterMs: number;
    recoveryLeaseMs: number;
    clientTimeoutMs: number;
  };
  steps: Step[];
  /** Seeds the jitter the coordinator draws from Math.random, so a run replays exactly. */
  seed: number;
}

const pick = fc.nat(63);
const node = fc.nat(5);

const stepArbitraries: Record<StepKind, fc.Arbitrary<Step>> = {
  deliver: fc.record({ t: fc.constant('deliver' as const), pick }),
  lose: fc.record({ t: fc.constant('lose' as const), pick }),
  duplicate: fc.record({ t: fc.constant('duplicate' as const), pick }),
  delay: fc.record({ t: fc.constant('delay' as const), pick }),
  release: fc.record({ t: fc.constant('release' as const), pick }),
  tick: fc.constant({ t: 'tick' as const }),
  advance: fc.record({ t: fc.constant('advance' as const), ms: fc.constantFrom(1, 10, 100, 1_000, 5_000) }),
  crash: fc.record({ t: fc.constant('crash' as const), node }),
  restart: fc.record({ t: fc.constant('restart' as const), node }),
  isolate: fc.record({ t: fc.constant('isolate' as const), node }),
  rejoin: fc.record({ t: fc.constant('rejoin' as const), node }),
  recover: fc.record({ t: fc.constant('recover' as const), node }),
  sweep: fc.constant({ t: 'sweep' as const }),
  storageError: fc.record({
    t: fc.constant('storageError' as const),
    pick,
    when: fc.constantFrom('before' as const, 'after' as const),
  }),
  databaseCrash: fc.constant({ t: 'databaseCrash' as const }),
  submit: fc.constant({ t: 'submit' as const }),
};

function steps(weights: Partial<Record<StepKind, number>>, maxLength: number): fc.Arbitrary<Step[]> {
  const choices = (Object.keys(weights) as StepKind[])
    .filter((kind) => (weights[kind] ?? 0) > 0)
    .map((kind) => ({ arbitrary: stepArbitraries[kind], weight: weights[kind] ?? 0 }));
  return fc.array(fc.oneof(...choices), { maxLength, size: 'max' });
}

const vote = fc.oneof(
  { arbitrary: fc.constant('yes' as const), weight: 6 },
  { arbitrary: fc.constant('no' as const), weight: 1 },
);

const txPlan: fc.Arbitrary<TxPlan> = fc.record({
  branches: fc.array(fc.record({ participant: fc.nat(3), vote }), { minLength: 1, maxLength: 4 }),
  local: fc.oneof(
    { arbitrary: fc.constant('write' as const), weight: 4 },
    { arbitrary: fc.constant('none' as const), weight: 2 },
    { arbitrary: fc.constant('throw' as const), weight: 1 },
  ),
});

function scenario(stepPlan: fc.Arbitrary<Step[]>): fc.Arbitrary<Scenario> {
  return fc.record({
    participants: fc.integer({ min: 2, max: 4 }),
    replicas: fc.oneof({ arbitrary: fc.constant(1), weight: 3 }, { arbitrary: fc.constant(2), weight: 1 }),
    transactions: fc.array(txPlan, { minLength: 1, maxLength: 4 }),
    timing: fc.record({
      voteTimeoutMs: fc.constantFrom(200, 1_000),
      callTimeoutMs: fc.constantFrom(200, 1_000),
      inlineCommitAttempts: fc.integer({ min: 1, max: 3 }),
      inDoubtAfterMs: fc.constantFrom(0, 100, 1_500, 5_000),
      recoveryLeaseMs: fc.constantFrom(500, 5_000),
      clientTimeoutMs: fc.constantFrom(300, 2_000),
    }),
    steps: stepPlan,
    seed: fc.integer(),
  });
}

function transactionsOf(s: Scenario): SimulatedTransaction[] {
  return s.transactions.map((plan, i) => {
    const branches = new Map<string, 'yes' | 'no'>();
    for (const b of plan.branches) {
      const name = `p${(b.participant % s.participants) + 1}`;
      if (!branches.has(name)) branches.set(name, b.vote);
    }
    return {
      gtid: `g${i + 1}`,
      branches: [...branches].map(([participant, v]) => ({ participant, vote: v })),
      local: plan.local,
    };
  });
}

/** What a schedule is doing to the world besides the world's own state: messages it holds back. */
interface Control {
  /** Messages held back: 'deliver' skips them until 'release' (or the end of the faults). */
  delayed: Set<number>;
  submitNext: () => void;
}

async function apply(world: TwoPhaseWorld, step: Step, control: Control): Promise<void> {
  const nodes = world.nodes();
  const at = (i: number) => nodes[i % nodes.length].name;
  switch (step.t) {
    case 'deliver': {
      const events = world.pending().filter((e) => !control.delayed.has(e.id));
      if (events.length > 0) await world.deliver(events[step.pick % events.length].id);
      return;
    }
    case 'delay': {
      const messages = world.network.messages().filter((e) => !control.delayed.has(e.id));
      if (messages.length > 0) control.delayed.add(messages[step.pick % messages.length].id);
      return;
    }
    case 'release': {
      const held = world.pending().filter((e) => control.delayed.has(e.id));
      for (const id of control.delayed) if (!held.some((e) => e.id === id)) control.delayed.delete(id);
      if (held.length > 0) control.delayed.delete(held[step.pick % held.length].id);
      return;
    }
    case 'lose':
    case 'duplicate': {
      const messages = world.network.messages();
      if (messages.length === 0) return;
      const id = messages[step.pick % messages.length].id;
      await (step.t === 'lose' ? world.drop(id) : world.duplicate(id));
      return;
    }
    case 'tick':
      await world.fireNextTimer();
      return;
    case 'advance': {
      // Time passes without firing a time-out (that is what 'tick' does): thresholds such as in-doubt,
      // staleness and leases can then be crossed while votes and decisions are still in flight.
      const next = world.clock.nextTimerAt();
      const room = next === undefined ? step.ms : Math.min(step.ms, next - world.clock.now() - 1);
      if (room > 0) await world.advance(room);
      return;
    }
    case 'crash':
      await world.crash(at(step.node));
      return;
    case 'restart':
      await world.restart(at(step.node));
      return;
    case 'isolate':
      world.isolate(at(step.node));
      return;
    case 'rejoin':
      world.rejoin(at(step.node));
      return;
    case 'recover': {
      const target = world.node(at(step.node));
      if (!target?.up) return;
      if (world.replicas.some((r) => r.name === target.name)) world.recoverCoordinator(target.name);
      else world.recoverParticipant(target.name);
      await world.flush();
      return;
    }
    case 'sweep': {
      // A periodic in-doubt sweep on every participant, a moment after the last step.
      const next = world.clock.nextTimerAt();
      if (next === undefined || next - world.clock.now() > 1) await world.advance(1);
      for (const p of world.participants) if (p.up) world.recoverParticipant(p.name);
      await world.flush();
      return;
    }
    case 'storageError': {
      const writes = world.pending().filter((e) => e.kind === 'storage');
      if (writes.length > 0) await world.failStorage(writes[step.pick % writes.length].id, step.when);
      return;
    }
    case 'databaseCrash':
      await world.crashCoordinatorDatabase();
      return;
    case 'submit':
      control.submitNext();
      await world.flush();
      return;
  }
}

function failure(world: TwoPhaseWorld, what: string, problems: string[]): Error {
  return new Error(
    `${what}:\n  ${problems.join('\n  ')}\n--- state\n${world.describeState()}\n--- trace (last steps)\n${world.traceTail()}`,
  );
}

/** Runs one scenario: the faulty schedule with safety checked at every step, then healing and recovery. */
async function run(s: Scenario): Promise<void> {
  const random = jest.spyOn(Math, 'random').mockImplementation(seededRandom(s.seed));
  try {
    const world = new TwoPhaseWorld({
      participants: s.participants,
      coordinatorReplicas: s.replicas,
      coordinator: {
        voteTimeoutMs: s.timing.voteTimeoutMs,
        callTimeoutMs: s.timing.callTimeoutMs,
        inlineCommitAttempts: s.timing.inlineCommitAttempts,
        recoveryLeaseMs: s.timing.recoveryLeaseMs,
      },
      participant: { inDoubtAfterMs: s.timing.inDoubtAfterMs },
      clientTimeoutMs: s.timing.clientTimeoutMs,
    });
    const txs = transactionsOf(s);
    let next = 0;
    const submitNext = () => {
      if (next < txs.length && world.replicas.some((r) => r.up)) world.submit(txs[next++]);
    };
    submitNext();
    const control: Control = { delayed: new Set(), submitNext };
    for (const step of s.steps) {
      await apply(world, step, control);
      if (world.violations.length > 0)
        throw failure(world, 'safety violated during the faulty schedule', world.violations);
    }

    await world.heal();
    while (next < txs.length) submitNext();
    await world.recoverUntilQuiescent();
    if (world.violations.length > 0)
      throw failure(world, 'safety violated during recovery', world.violations);
    const unresolved = world.checkResolved();
    if (unresolved.length > 0) throw failure(world, 'not resolved after healing and recovery', unresolved);
  } finally {
    random.mockRestore();
  }
}

function assertProperty(arbitrary: fc.Arbitrary<Scenario>, numRuns: number): Promise<void> {
  const { FC_SEED, FC_PATH } = process.env;
  const replay =
    FC_SEED === undefined
      ? {}
      : { seed: Number(FC_SEED), ...(FC_PATH === undefined ? {} : { path: FC_PATH, endOnFailure: true }) };
  return fc.assert(fc.asyncProperty(arbitrary, run), { numRuns, ...replay });
}

describe('two-phase commit under crashes, message faults and time-outs (property)', () => {
  it('mixed faults: every step is safe and every transaction resolves after recovery', async () => {
    await assertProperty(
      scenario(
        steps(
          {
            deliver: 40,
            lose: 4,
            duplicate: 5,
            delay: 4,
            release: 2,
            tick: 5,
            advance: 2,
            crash: 3,
            restart: 4,
            isolate: 1,
            rejoin: 2,
            recover: 3,
            sweep: 2,
            submit: 4,
          },
          150,
        ),
      ),
      600,
    );
  }, 120_000);

  it('crash-heavy: crashes and restarts at any durable step, recovery racing live transactions', async () => {
    await assertProperty(
      scenario(steps({ deliver: 30, tick: 6, advance: 2, crash: 8, restart: 8, recover: 8, submit: 4 }, 150)),
      300,
    );
  }, 120_000);

  it('message-heavy: lost, duplicated, reordered and delayed messages with time-outs, no crashes', async () => {
    await assertProperty(
      scenario(
        steps(
          {
            deliver: 30,
            lose: 8,
            duplicate: 10,
            delay: 8,
            release: 4,
            tick: 10,
            advance: 3,
            isolate: 2,
            rejoin: 3,
            recover: 3,
            submit: 4,
          },
          150,
        ),
      ),
      300,
    );
  }, 120_000);

  it('inquiry races: participants sweep in-doubt branches while votes and decisions are in flight', async () => {
    await assertProperty(
      scenario(
        steps(
          {
            deliver: 30,
            duplicate: 3,
            delay: 6,
            release: 3,
            tick: 3,
            advance: 4,
            crash: 2,
            restart: 3,
            recover: 4,
            sweep: 8,
            submit: 4,
          },
          150,
        ),
      ),
      300,
    );
  }, 120_000);

  // Fails with the current coordinator: a storage error on the COMMIT write (or on the completion mark)
  // makes `execute` report a failure for a transaction that commits. See the "contract gaps" specs in
  // coordinator.spec.ts for the two deterministic schedules.
  it('storage errors: any write may fail before or after taking effect; the coordinator database may crash', async () => {
    await assertProperty(
      scenario(
        steps(
          {
            deliver: 30,
            storageError: 5,
            databaseCrash: 2,
            lose: 2,
            tick: 4,
            advance: 2,
            crash: 2,
            restart: 3,
            recover: 3,
            sweep: 2,
            submit: 4,
          },
          150,
        ),
      ),
      300,
    );
  }, 120_000);
});
