import { errorMessage } from '../core/observer';
import { CoordinatorClient, ParticipantClient } from '../ports/two-phase-commit.ports';
import {
  defaultCoordinatorOptions,
  TwoPhaseCoordinator,
  TwoPhaseCoordinatorOptions,
  TwoPhaseRequest,
} from '../two-phase-commit/coordinator';
import {
  BranchWork,
  defaultParticipantOptions,
  TwoPhaseParticipant,
  TwoPhaseParticipantOptions,
} from '../two-phase-commit/participant';
import {
  CommitAck,
  Decision,
  OutcomeUnknownError,
  TransactionAbortedError,
  Vote,
} from '../two-phase-commit/types';
import { CoordinatorLogStore, InMemoryCoordinatorLog } from './in-memory-coordinator-log';
import { InMemoryPreparedResource, PreparedResourceStore } from './in-memory-prepared-resource';
import { MemoryTx, StorageGate } from './memory-database';
import { Incarnation, never, PendingEvent, SimulatedNetwork, StorageFailure } from './simulated-network';
import { VirtualClock } from './virtual-clock';

export type SimulatedVote = 'yes' | 'no';

/** Payload the simulated coordinator sends each branch: how that participant's business step will go. */
export interface SimulatedBranchPayload {
  vote: SimulatedVote;
}

/** One global transaction to run in a world. */
export interface SimulatedTransaction {
  gtid: string;
  branches: { participant: string; vote: SimulatedVote }[];
  /** The coordinator's own work: none, one row committed with the decision, or a failure. Default none. */
  local?: 'none' | 'write' | 'throw';
}

/**
 * What the caller of `execute` learned: `committed` / `aborted` (TransactionAbortedError) / `failed`
 * (another error), `abandoned` when its coordinator replica crashed first, `refused` when no replica was up.
 */
export type ExecutionStatus = 'pending' | 'committed' | 'aborted' | 'failed' | 'abandoned' | 'refused';

export interface Execution {
  readonly tx: SimulatedTransaction;
  readonly replica: string;
  status: ExecutionStatus;
  acknowledged?: boolean;
  error?: unknown;
}

/** A recovery sweep started on one node (`TwoPhaseCoordinator.recover` or `TwoPhaseParticipant.recover`). */
export interface Sweep {
  readonly node: string;
  status: 'running' | 'done' | 'failed' | 'abandoned';
  resolved?: number;
  error?: unknown;
}

/** The error a simulated coordinator's `local: 'throw'` work fails with. */
export class LocalWorkError extends Error {
  constructor(readonly gtid: string) {
    super(`local work of ${gtid} failed`);
  }
}

function isPayload(value: unknown): value is SimulatedBranchPayload {
  if (typeof value !== 'object' || value === null) return false;
  const vote: unknown = (value as Record<string, unknown>).vote;
  return vote === 'yes' || vote === 'no';
}

/** Default branch work: `vote: 'no'` fails the business step; otherwise writes one row keyed by the gtid. */
export const simulatedBranchWork: BranchWork<MemoryTx> = (tx, payload, gtid) => {
  if (!isPayload(payload)) return Promise.reject(new Error('invalid branch payload'));
  if (payload.vote === 'no') return Promise.reject(new Error('business rule refused the branch'));
  tx.put(gtid, { gtid });
  return Promise.resolve();
};

/** The request `submit` hands the coordinator for a simulated transaction. */
export function simulatedRequest(tx: SimulatedTransaction): TwoPhaseRequest<MemoryTx> {
  const local = tx.local ?? 'none';
  return {
    gtid: tx.gtid,
    branches: tx.branches.map((b) => ({ participant: b.participant, payload: { vote: b.vote } })),
    ...(local === 'write'
      ? {
          local: (t: MemoryTx) => {
            t.put(tx.gtid, 'coordinator row');
            return Promise.resolve();
          },
        }
      : local === 'throw'
        ? { local: () => Promise.reject(new LocalWorkError(tx.gtid)) }
        : {}),
  };
}

/** One node of the world: boots a fresh runtime on each (re)start; everything not durable dies on crash. */
export class SimulatedNode<Runtime> {
  up = false;
  incarnation: Incarnation;
  private runtime?: Runtime;

  constructor(
    readonly name: string,
    private readonly boot: (incarnation: Incarnation) => Runtime,
  ) {
    this.incarnation = { node: name, epoch: -1, alive: false };
  }

  /** The running incarnation's objects; throws while the node is down. */
  get live(): Runtime {
    if (!this.up || this.runtime === undefined) throw new Error(`${this.name} is down`);
    return this.runtime;
  }

  start(): void {
    if (this.up) return;
    this.incarnation = { node: this.name, epoch: this.incarnation.epoch + 1, alive: true };
    this.runtime = this.boot(this.incarnation);
    this.up = true;
  }

  stop(): Incarnation {
    const dead = this.incarnation;
    dead.alive = false;
    this.up = false;
    this.runtime = undefined;
    return dead;
  }
}

export interface CoordinatorRuntime {
  coordinator: TwoPhaseCoordinator<MemoryTx>;
  log: InMemoryCoordinatorLog;
}

export interface ParticipantRuntime {
  participant: TwoPhaseParticipant<MemoryTx>;
  resource: InMemoryPreparedResource;
}

export interface TwoPhaseWorldOptions {
  /** Participant count (named p1, p2…) or names. Default 3. */
  participants?: number | string[];
  /** Service name of the coordinator, as participants address it. Default 'emr'. */
  coordinatorName?: string;
  /** Replicas of the coordinating service sharing one log. Default 1 (node named like the service). */
  coordinatorReplicas?: number;
  coordinator?: Partial<Omit<TwoPhaseCoordinatorOptions, 'name'>>;
  participant?: Partial<TwoPhaseParticipantOptions>;
  /** The participant-side HTTP client's time-out for outcome inquiries. Default 1 s. */
  clientTimeoutMs?: number;
  /** Lease a COMMIT decision takes for the deciding replica's phase two. Default: the recovery lease. */
  decisionLeaseMs?: number;
  /** Every durable write is its own schedulable step (crash points between any two). Default true. */
  scheduledStorage?: boolean;
  /** Participants' business step. Default `simulatedBranchWork`. */
  work?: BranchWork<MemoryTx>;
  startTime?: number;
}

/** Coordinator time-outs used by a world unless overridden: short, so schedules stay small. */
export const worldCoordinatorDefaults: Omit<TwoPhaseCoordinatorOptions, 'name'> = {
  ...defaultCoordinatorOptions,
  voteTimeoutMs: 1_000,
  callTimeoutMs: 1_000,
  inlineCommitAttempts: 2,
  retryBaseMs: 50,
  retryMaxMs: 400,
  recoveryLeaseMs: 5_000,
};

export const worldParticipantDefaults: TwoPhaseParticipantOptions = {
  ...defaultParticipantOptions,
  inDoubtAfterMs: 3_000,
};

/**
 * A deterministic simulated deployment of one 2PC workflow: coordinator replica(s) over one shared log,
 * participants each with a durable prepared resource, a lossy network and a virtual clock. Nothing moves
 * until the test delivers an event, fires a timer or injects a fault, so a run is a pure function of its
 * schedule. After every step the world checks the safety invariants and collects any violation.
 */
export class TwoPhaseWorld {
  readonly clock: VirtualClock;
  readonly network: SimulatedNetwork;
  readonly coordinatorName: string;
  readonly coordinatorOptions: TwoPhaseCoordinatorOptions;
  readonly participantOptions: TwoPhaseParticipantOptions;
  readonly clientTimeoutMs: number;
  readonly decisionLeaseMs: number;
  /** The coordinating service's durable log and own rows, shared by its replicas. */
  readonly log = new CoordinatorLogStore();
  readonly participantStores = new Map<string, PreparedResourceStore>();
  readonly replicas: SimulatedNode<CoordinatorRuntime>[];
  readonly participants: SimulatedNode<ParticipantRuntime>[];
  readonly executions: Execution[] = [];
  readonly sweeps: Sweep[] = [];
  /** Human-readable history of the run, for counterexamples. */
  readonly trace: string[] = [];
  /** Every safety violation seen so far, in order, without repeats. */
  readonly violations: string[] = [];

  private readonly seenViolations = new Set<string>();
  private readonly scheduledStorage: boolean;
  private readonly work: BranchWork<MemoryTx>;
  private readonly startTime: number;
  private readonly owners = new Map<Execution | Sweep, Incarnation>();
  private nextRoute = 0;

  constructor(options: TwoPhaseWorldOptions = {}) {
    this.startTime = options.startTime ?? Date.UTC(2026, 0, 1);
    this.clock = new VirtualClock(this.startTime);
    this.coordinatorName = options.coordinatorName ?? 'emr';
    this.coordinatorOptions = {
      ...worldCoordinatorDefaults,
      ...options.coordinator,
      name: this.coordinatorName,
    };
    this.participantOptions = { ...worldParticipantDefaults, ...options.participant };
    this.clientTimeoutMs = options.clientTimeoutMs ?? 1_000;
    this.decisionLeaseMs = options.decisionLeaseMs ?? this.coordinatorOptions.recoveryLeaseMs;
    this.scheduledStorage = options.scheduledStorage ?? true;
    this.work = options.work ?? simulatedBranchWork;
    this.network = new SimulatedNetwork(
      (name) => {
        const node = this.node(name);
        return node?.up ? node.incarnation : undefined;
      },
      (line) => this.note(line),
    );

    const names =
      typeof options.participants === 'number' || options.participants === undefined
        ? Array.from({ length: options.participants ?? 3 }, (_, i) => `p${i + 1}`)
        : options.participants;
    for (const name of names) this.participantStores.set(name, new PreparedResourceStore(name));
    this.participants = names.map(
      (name) => new SimulatedNode(name, (inc) => this.bootParticipant(name, inc)),
    );

    const replicaCount = Math.max(1, options.coordinatorReplicas ?? 1);
    const replicaNames =
      replicaCount === 1
        ? [this.coordinatorName]
        : Array.from({ length: replicaCount }, (_, i) => `${this.coordinatorName}-${i + 1}`);
    this.replicas = replicaNames.map((name) => new SimulatedNode(name, (inc) => this.bootReplica(inc)));

    for (const node of this.nodes()) node.start();
  }

  /** Every node: coordinator replicas first, then participants. */
  nodes(): SimulatedNode<CoordinatorRuntime | ParticipantRuntime>[] {
    return [...this.replicas, ...this.participants];
  }

  node(name: string): SimulatedNode<CoordinatorRuntime | ParticipantRuntime> | undefined {
    return this.nodes().find((n) => n.name === name);
  }

  replica(name?: string): SimulatedNode<CoordinatorRuntime> {
    const replica = name === undefined ? this.replicas[0] : this.replicas.find((r) => r.name === name);
    if (!replica) throw new Error(`no coordinator replica '${String(name)}'`);
    return replica;
  }

  participant(name: string): SimulatedNode<ParticipantRuntime> {
    const node = this.participants.find((p) => p.name === name);
    if (!node) throw new Error(`no participant '${name}'`);
    return node;
  }

  store(participant: string): PreparedResourceStore {
    const store = this.participantStores.get(participant);
    if (!store) throw new Error(`no participant '${participant}'`);
    return store;
  }

  // ---- workload -------------------------------------------------------------------------------------

  /** Starts `execute` for `tx` on a replica (the first one up unless named); returns its live status. */
  submit(tx: SimulatedTransaction, replicaName?: string): Execution {
    const replica = replicaName === undefined ? this.replicas.find((r) => r.up) : this.replica(replicaName);
    const execution: Execution = { tx, replica: replica?.name ?? '', status: 'pending' };
    this.executions.push(execution);
    if (!replica?.up) {
      execution.status = 'refused';
      this.note(`submit   ${tx.gtid} refused: no coordinator replica up`);
      return execution;
    }
    this.owners.set(execution, replica.incarnation);
    this.note(`submit   ${tx.gtid} to ${replica.name}#${replica.incarnation.epoch}`);
    replica.live.coordinator.execute(simulatedRequest(tx)).then(
      (result) => {
        execution.status = 'committed';
        execution.acknowledged = result.acknowledged;
        this.note(`result   ${tx.gtid} committed (acknowledged: ${String(result.acknowledged)})`);
      },
      (error: unknown) => {
        execution.status = error instanceof TransactionAbortedError ? 'aborted' : 'failed';
        execution.error = error;
        this.note(`result   ${tx.gtid} ${execution.status}: ${errorMessage(error)}`);
      },
    );
    return execution;
  }

  /** Starts a recovery sweep of a coordinator replica (the first one up unless named). */
  recoverCoordinator(replicaName?: string): Sweep {
    const replica = replicaName === undefined ? this.replicas.find((r) => r.up) : this.replica(replicaName);
    return this.sweep(replica, () => replica?.live.coordinator.recover() ?? Promise.resolve(0));
  }

  /** Starts an in-doubt sweep of one participant. */
  recoverParticipant(name: string): Sweep {
    const node = this.participant(name);
    return this.sweep(node, () => node.live.participant.recover());
  }

  // ---- scheduling and faults -------------------------------------------------------------------------

  /** Lets every promise continuation run, then checks the safety invariants. */
  async flush(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (const violation of this.checkSafety()) {
      if (this.seenViolations.has(violation)) continue;
      this.seenViolations.add(violation);
      this.violations.push(violation);
      this.note(`VIOLATION ${violation}`);
    }
  }

  pending(): readonly PendingEvent[] {
    return this.network.pending();
  }

  async deliver(id: number): Promise<void> {
    this.network.deliver(id);
    await this.flush();
  }

  async drop(id: number): Promise<void> {
    this.network.drop(id);
    await this.flush();
  }

  async duplicate(id: number): Promise<void> {
    this.network.duplicate(id);
    await this.flush();
  }

  /** Performs a queued durable write with a storage error (see SimulatedNetwork.failStorage). */
  async failStorage(id: number, when: 'before' | 'after'): Promise<void> {
    this.network.failStorage(id, when);
    await this.flush();
  }

  /** Jumps to the next pending timer (time-outs, back-offs) and fires it; false when there is none. */
  async fireNextTimer(): Promise<boolean> {
    const next = this.clock.nextTimerAt();
    if (next === undefined) return false;
    this.note(`time     → t+${next - this.startTime}ms`);
    this.clock.advanceTo(next);
    await this.flush();
    return true;
  }

  async advance(ms: number): Promise<void> {
    this.note(`time     +${ms}ms`);
    this.clock.advance(ms);
    await this.flush();
  }

  /** Kills a node: its in-flight work, pending writes, timers and awaited replies are gone for good. */
  async crash(name: string): Promise<void> {
    const node = this.node(name);
    if (!node?.up) return;
    const dead = node.stop();
    this.network.forget(dead);
    for (const [item, owner] of this.owners) {
      if (owner !== dead) continue;
      if (item.status === 'pending' || item.status === 'running') item.status = 'abandoned';
      this.owners.delete(item);
    }
    this.note(`crash    ${name}#${dead.epoch}`);
    await this.flush();
  }

  async restart(name: string): Promise<void> {
    const node = this.node(name);
    if (!node || node.up) return;
    node.start();
    this.note(`restart  ${name}#${node.incarnation.epoch}`);
    await this.flush();
  }

  /**
   * The coordinating service's database crashes and comes back: relaxed writes not yet flushed (start,
   * completion and retry marks) are lost, and every write in flight on it fails without effect.
   */
  async crashCoordinatorDatabase(): Promise<void> {
    const replicas = new Set(this.replicas.map((r) => r.name));
    for (const e of [...this.network.pending()]) {
      if (e.kind === 'storage' && replicas.has(e.owner.node)) this.network.failStorage(e.id, 'before');
    }
    const lost = this.log.crash();
    this.note(`db crash ${this.coordinatorName} database (${lost} unflushed writes lost)`);
    await this.flush();
  }

  isolate(name: string): void {
    this.network.isolate(name);
    this.note(`isolate  ${name}`);
  }

  rejoin(name: string): void {
    this.network.rejoin(name);
    this.note(`rejoin   ${name}`);
  }

  /**
   * Delivers every pending event in order (skipping `hold`-ed ones) and, when nothing else is pending,
   * fires timers, until the world is idle. Returns how many steps it took; throws on a livelock.
   */
  async settle(
    options: { hold?: (event: PendingEvent) => boolean; timers?: boolean; maxSteps?: number } = {},
  ): Promise<number> {
    const { hold, timers = true, maxSteps = 20_000 } = options;
    let steps = 0;
    for (;;) {
      await this.flush();
      const next = this.network.pending().find((e) => !hold?.(e));
      if (next) this.network.deliver(next.id);
      else if (!timers || !(await this.fireNextTimer())) return steps;
      steps += 1;
      if (steps > maxSteps) throw new Error(`the world did not settle within ${maxSteps} steps`);
    }
  }

  /** Ends every fault: the network is whole again and every node is up. */
  async heal(): Promise<void> {
    this.network.rejoinAll();
    this.note('heal');
    for (const node of this.nodes()) node.start();
    await this.flush();
  }

  /** Time after which every time-out, in-doubt threshold, staleness limit and lease has passed. */
  get recoveryHorizonMs(): number {
    const c = this.coordinatorOptions;
    return (
      Math.max(
        this.participantOptions.inDoubtAfterMs,
        c.voteTimeoutMs * 2,
        c.recoveryLeaseMs,
        this.decisionLeaseMs,
        c.callTimeoutMs,
        this.clientTimeoutMs,
      ) + 1
    );
  }

  /**
   * Heals the world, then alternates settling with recovery sweeps on every node (time advanced past
   * every threshold before each) until every transaction is resolved or `maxRounds` sweeps ran.
   * Returns the number of sweep rounds it needed.
   */
  async recoverUntilQuiescent(options: { maxRounds?: number } = {}): Promise<number> {
    const { maxRounds = 8 } = options;
    await this.heal();
    for (let round = 0; ; round += 1) {
      await this.settle();
      if (this.checkResolved().length === 0 || round >= maxRounds) return round;
      await this.advance(this.recoveryHorizonMs);
      for (const replica of this.replicas) this.recoverCoordinator(replica.name);
      for (const participant of this.participants) this.recoverParticipant(participant.name);
    }
  }

  // ---- invariants ------------------------------------------------------------------------------------

  /** Every gtid the world has seen: submitted, logged, or held by a participant. */
  gtids(): string[] {
    const all = new Set<string>(this.executions.map((e) => e.tx.gtid));
    for (const gtid of this.log.records.keys()) all.add(gtid);
    for (const store of this.participantStores.values())
      for (const gtid of store.branches.keys()) all.add(gtid);
    return [...all];
  }

  /**
   * Safety, which must hold after every step: no gtid committed at one participant and aborted at
   * another; no committed branch without a durable COMMIT; COMMIT never recorded for an aborted branch;
   * a participant's rows present iff its branch committed; the coordinator's own row present iff COMMIT
   * is recorded; no COMMIT when a branch's business step refused; what `execute` told its caller agrees
   * with the log (a caller is never told of a failure while COMMIT is recorded); no adapter saw an
   * impossible order.
   */
  checkSafety(): string[] {
    const problems: string[] = [...this.log.violations];
    for (const store of this.participantStores.values()) problems.push(...store.violations);
    const checksRows = this.work === simulatedBranchWork;
    for (const gtid of this.gtids()) {
      const decision = this.log.decision(gtid);
      const logState = this.log.state(gtid) ?? 'no record';
      const committedAt: string[] = [];
      const abortedAt: string[] = [];
      for (const store of this.participantStores.values()) {
        const state = store.state(gtid);
        if (state === 'committed') committedAt.push(store.name);
        if (state === 'aborted') abortedAt.push(store.name);
        if (checksRows && store.database.has(gtid) !== (state === 'committed')) {
          problems.push(
            `${gtid}: ${store.name} has ${state ?? 'no'} branch but its rows are ${store.database.has(gtid) ? 'present' : 'missing'}`,
          );
        }
      }
      if (committedAt.length > 0 && abortedAt.length > 0) {
        problems.push(`${gtid}: committed at ${committedAt.join(',')} but aborted at ${abortedAt.join(',')}`);
      }
      if (committedAt.length > 0 && decision !== 'commit') {
        problems.push(
          `${gtid}: committed at ${committedAt.join(',')} without a durable COMMIT (log: ${logState})`,
        );
      }
      if (decision === 'commit' && abortedAt.length > 0) {
        problems.push(`${gtid}: COMMIT recorded but the branch at ${abortedAt.join(',')} was aborted`);
      }
      const executions = this.executions.filter((e) => e.tx.gtid === gtid);
      const writesLocally = executions.some((e) => e.tx.local === 'write');
      if (this.log.database.has(gtid) !== (decision === 'commit' && writesLocally)) {
        problems.push(
          `${gtid}: coordinator's own row ${this.log.database.has(gtid) ? 'present' : 'missing'} with log ${logState}`,
        );
      }
      for (const e of executions) {
        const refusing = e.tx.branches.filter((b) => b.vote === 'no').map((b) => b.participant);
        if (decision === 'commit' && refusing.length > 0) {
          problems.push(`${gtid}: COMMIT recorded although the branch at ${refusing.join(',')} refused`);
        }
        if (e.status === 'committed' && decision !== 'commit') {
          problems.push(`${gtid}: execute reported committed but the log holds ${logState}`);
        }
        // The one excuse for a failure while COMMIT is recorded: the decision write itself failed, so the
        // coordinator could not learn the outcome (the caller must then treat it as unknown).
        const outcomeUnknown =
          e.error instanceof OutcomeUnknownError ||
          (e.error instanceof StorageFailure && /decide-(commit|abort)/.test(e.error.operation));
        if ((e.status === 'aborted' || e.status === 'failed') && decision === 'commit' && !outcomeUnknown) {
          problems.push(`${gtid}: execute reported ${e.status} but the log holds ${logState}`);
        }
        const expectedError =
          (e.tx.local === 'throw' && e.error instanceof LocalWorkError) ||
          e.error instanceof StorageFailure ||
          e.error instanceof OutcomeUnknownError;
        if (e.status === 'failed' && !expectedError) {
          problems.push(`${gtid}: execute failed with an unexpected error: ${errorMessage(e.error)}`);
        }
      }
    }
    for (const sweep of this.sweeps) {
      if (sweep.status === 'failed' && !(sweep.error instanceof StorageFailure))
        problems.push(`recovery sweep on ${sweep.node} failed: ${errorMessage(sweep.error)}`);
    }
    return [...new Set(problems)];
  }

  /**
   * Liveness, once faults have stopped and recovery ran: every gtid fully committed (log committed,
   * every branch committed) or fully absent (log aborted or no record, nothing committed or prepared
   * anywhere); no prepared branch left behind; every `execute` and sweep on a live node finished.
   */
  checkResolved(): string[] {
    const problems: string[] = [];
    for (const gtid of this.gtids()) {
      const state = this.log.state(gtid);
      const decision = this.log.decision(gtid);
      if (state === 'preparing' || state === 'committing' || state === 'aborting') {
        problems.push(`${gtid}: log record still ${state}`);
      }
      const expected = new Set<string>(this.log.records.get(gtid)?.branches.map((b) => b.participant) ?? []);
      for (const e of this.executions)
        if (e.tx.gtid === gtid) for (const b of e.tx.branches) expected.add(b.participant);
      for (const store of this.participantStores.values()) {
        const branch = store.state(gtid);
        if (decision === 'commit' && expected.has(store.name) && branch !== 'committed') {
          problems.push(`${gtid}: COMMIT recorded but ${store.name}'s branch is ${branch ?? 'absent'}`);
        }
        if (decision !== 'commit' && (branch === 'committed' || branch === 'prepared')) {
          problems.push(
            `${gtid}: not committed (log: ${state ?? 'no record'}) but ${branch} at ${store.name}`,
          );
        }
      }
    }
    for (const store of this.participantStores.values()) {
      for (const branch of store.prepared())
        problems.push(`${store.name} still holds ${branch.gtid} prepared`);
    }
    for (const e of this.executions)
      if (e.status === 'pending') problems.push(`execute of ${e.tx.gtid} never settled`);
    for (const s of this.sweeps)
      if (s.status === 'running') problems.push(`recovery sweep on ${s.node} never finished`);
    return [...new Set(problems)];
  }

  /** One line per gtid: log state, each participant's branch, what execute reported. */
  describeState(): string {
    return this.gtids()
      .map((gtid) => {
        const branches = [...this.participantStores.values()]
          .map((s) => `${s.name}=${s.state(gtid) ?? '-'}`)
          .join(' ');
        const results = this.executions
          .filter((e) => e.tx.gtid === gtid)
          .map((e) => e.status)
          .join(',');
        return `${gtid}: log=${this.log.state(gtid) ?? '-'} ${branches} execute=${results || '-'}`;
      })
      .join('\n');
  }

  /** The last `lines` trace lines, for an assertion message. */
  traceTail(lines = 120): string {
    return this.trace.slice(-lines).join('\n');
  }

  // ---- wiring ----------------------------------------------------------------------------------------

  private note(line: string): void {
    this.trace.push(`t+${String(this.clock.now() - this.startTime).padStart(6)}ms ${line}`);
  }

  private sweep(node: SimulatedNode<unknown> | undefined, run: () => Promise<number>): Sweep {
    const sweep: Sweep = { node: node?.name ?? '-', status: 'running' };
    if (!node?.up) {
      sweep.status = 'abandoned';
      return sweep;
    }
    this.sweeps.push(sweep);
    this.owners.set(sweep, node.incarnation);
    this.note(`recover  ${node.name}#${node.incarnation.epoch}`);
    run().then(
      (resolved) => {
        if (sweep.status !== 'running') return;
        sweep.status = 'done';
        sweep.resolved = resolved;
        this.owners.delete(sweep);
      },
      (error: unknown) => {
        if (sweep.status !== 'running') return;
        sweep.status = 'failed';
        sweep.error = error;
        this.owners.delete(sweep);
      },
    );
    return sweep;
  }

  private gate(incarnation: Incarnation): StorageGate {
    return <T>(access: 'read' | 'write', label: string, operation: () => T): Promise<T> => {
      if (!incarnation.alive) return never();
      if (access === 'write' && this.scheduledStorage)
        return this.network.storage(incarnation, label, operation);
      return Promise.resolve().then(operation);
    };
  }

  private bootReplica(incarnation: Incarnation): CoordinatorRuntime {
    const clock = this.clock.forOwner(incarnation);
    const log = new InMemoryCoordinatorLog(this.log, {
      clock,
      gate: this.gate(incarnation),
      claimer: `${incarnation.node}#${incarnation.epoch}`,
      decisionLeaseMs: this.decisionLeaseMs,
    });
    const clients = this.participants.map((p) => new SimulatedParticipantClient(p.name, this, incarnation));
    const coordinator = new TwoPhaseCoordinator(
      log,
      clients,
      this.coordinatorOptions,
      undefined,
      undefined,
      clock,
    );
    return { coordinator, log };
  }

  private bootParticipant(name: string, incarnation: Incarnation): ParticipantRuntime {
    const clock = this.clock.forOwner(incarnation);
    const resource = new InMemoryPreparedResource(this.store(name), { clock, gate: this.gate(incarnation) });
    const coordinators = new SimulatedCoordinatorClient(this, incarnation);
    const participant = new TwoPhaseParticipant(
      resource,
      coordinators,
      this.work,
      this.participantOptions,
      undefined,
      undefined,
      clock,
    );
    return { participant, resource };
  }

  /** The replica an inquiry to `service` goes to (round robin, as a load balancer would). */
  route(service: string): string | undefined {
    if (service !== this.coordinatorName) return undefined;
    const replica = this.replicas[this.nextRoute % this.replicas.length];
    this.nextRoute += 1;
    return replica.name;
  }
}

/** The coordinator's view of one participant, over the simulated network. */
export class SimulatedParticipantClient implements ParticipantClient {
  constructor(
    readonly name: string,
    private readonly world: TwoPhaseWorld,
    private readonly from: Incarnation,
  ) {}

  prepare(gtid: string, coordinator: string, payload: unknown): Promise<Vote> {
    return this.world.network.call(this.from, this.name, `prepare ${gtid}`, () =>
      this.world.participant(this.name).live.participant.prepare(gtid, coordinator, payload),
    );
  }

  commit(gtid: string): Promise<CommitAck> {
    return this.world.network.call(this.from, this.name, `commit ${gtid}`, () =>
      this.world.participant(this.name).live.participant.commit(gtid, this.world.coordinatorName),
    );
  }

  abort(gtid: string): Promise<void> {
    return this.world.network.call(this.from, this.name, `abort ${gtid}`, () =>
      this.world.participant(this.name).live.participant.abort(gtid, this.world.coordinatorName),
    );
  }
}

/** A participant's view of the coordinating service, over the simulated network, with a client time-out. */
export class SimulatedCoordinatorClient implements CoordinatorClient {
  constructor(
    private readonly world: TwoPhaseWorld,
    private readonly from: Incarnation,
  ) {}

  outcome(coordinator: string, gtid: string): Promise<Decision> {
    const replica = this.world.route(coordinator);
    if (replica === undefined) return Promise.reject(new Error(`unknown coordinator '${coordinator}'`));
    return this.world.network.call(
      this.from,
      replica,
      `outcome ${gtid}`,
      () => this.world.replica(replica).live.coordinator.outcome(gtid),
      { ms: this.world.clientTimeoutMs, clock: this.world.clock.forOwner(this.from) },
    );
  }
}
