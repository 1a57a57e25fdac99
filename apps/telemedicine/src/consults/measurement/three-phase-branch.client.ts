import type { CommitAck, ParticipantClient, ThreePhaseParticipantClient, Vote } from '@hospital/transactions';

/**
 * Measurement only: a 2PC `ParticipantClient` over a participant's 3PC routes, without the PreCommit
 * round — prepare is CanCommit, commit is DoCommit, abort is abort — so two-phase commit can be measured
 * on the very participants the consult completion uses. There is no in-doubt inquiry: a branch the 2PC
 * coordinator leaves prepared past the participant's `TX_3PC_UNCERTAIN_TIMEOUT_MS` is aborted by the
 * participant's 3PC sweep, whatever the coordinator decided. Fine for a benchmark; not for production.
 */
export class ThreePhaseBranchClient implements ParticipantClient {
  readonly name: string;

  constructor(
    private readonly branch: ThreePhaseParticipantClient,
    /** The coordinator the branches are filed under (the 2PC coordinator's own name). */
    private readonly coordinator: string,
  ) {
    this.name = branch.name;
  }

  prepare(gtid: string, coordinator: string, payload: unknown): Promise<Vote> {
    if (coordinator !== this.coordinator)
      return Promise.reject(new Error(`client of ${this.coordinator} asked to prepare for ${coordinator}`));
    return this.branch.canCommit(gtid, coordinator, payload);
  }

  commit(gtid: string): Promise<CommitAck> {
    return this.branch.doCommit(gtid, this.coordinator);
  }

  abort(gtid: string): Promise<void> {
    return this.branch.abort(gtid, this.coordinator);
  }
}
