// The 2PC clients of a simulated deployment (see two-phase-world.ts): each call goes over the simulated
// network to the live incarnation of the node it addresses.
import { CoordinatorClient, ParticipantClient } from '../ports/two-phase-commit.ports';
import { CommitAck, Decision, Vote } from '../two-phase-commit/types';
import type { SimulatedNode, CoordinatorRuntime, ParticipantRuntime } from './two-phase-simulation';
import { Incarnation, SimulatedNetwork } from './simulated-network';
import { VirtualClock } from './virtual-clock';

/** What the simulated clients need of their world: its network, clock, nodes and routing. */
export interface SimulatedTwoPhaseCluster {
  readonly network: SimulatedNetwork;
  readonly clock: VirtualClock;
  readonly coordinatorName: string;
  readonly clientTimeoutMs: number;
  participant(name: string): SimulatedNode<ParticipantRuntime>;
  replica(name?: string): SimulatedNode<CoordinatorRuntime>;
  /** The replica an inquiry to `service` goes to. */
  route(service: string): string | undefined;
}

/** The coordinator's view of one participant, over the simulated network. */
export class SimulatedParticipantClient implements ParticipantClient {
  constructor(
    readonly name: string,
    private readonly world: SimulatedTwoPhaseCluster,
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
    private readonly world: SimulatedTwoPhaseCluster,
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
