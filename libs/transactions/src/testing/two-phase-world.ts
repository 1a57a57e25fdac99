import { errorMessage } from '../core/observer';
import { TwoPhaseCoordinator, TwoPhaseCoordinatorOptions } from '../two-phase-commit/coordinator';
import { BranchWork, TwoPhaseParticipant, TwoPhaseParticipantOptions } from '../two-phase-commit/participant';
import { TransactionAbortedError } from '../two-phase-commit/types';
import { CoordinatorLogStore, InMemoryCoordinatorLog } from './in-memory-coordinator-log';
import { InMemoryPreparedResource, PreparedResourceStore } from './in-memory-prepared-resource';
import { MemoryTx, StorageGate } from './memory-database';
import { Incarnation, never, PendingEvent, SimulatedNetwork } from './simulated-network';
import { SimulatedCoordinatorClient, SimulatedParticipantClient } from './simulated-two-phase-clients';
import { allGtids, resolutionProblems, safetyProblems } from './two-phase-oracle';
import {
  CoordinatorRuntime,
  Execution,
  ParticipantRuntime,
  SimulatedNode,
  simulatedBranchWork,
  simulatedRequest,
  SimulatedTransaction,
  Sweep,
  TwoPhaseWorldOptions,
  worldCoordinatorDefaults,
  worldParticipantDefaults,
} from './two-phase-simulation';
import { VirtualClock } from './virtual-clock';

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
    return allGtids(this);
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
    return safetyProblems(this, this.work === simulatedBranchWork);
  }

  /**
   * Liveness, once faults have stopped and recovery ran: every gtid fully committed (log committed,
   * every branch committed) or fully absent (log aborted or no record, nothing committed or prepared
   * anywhere); no prepared branch left behind; every `execute` and sweep on a live node finished.
   */
  checkResolved(): string[] {
    return resolutionProblems(this);
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
