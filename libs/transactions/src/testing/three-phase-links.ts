import { PreCommitAck, ThreePhaseParticipantClient } from '../ports/three-phase-commit.ports';
import { ThreePhaseParticipant } from '../three-phase-commit/participant';
import { CommitAck, Vote } from '../two-phase-commit/types';

/** Which calls a link lets through: all, none (a cut cable), or all but PreCommit and DoCommit. */
export type LinkState = 'up' | 'cut' | 'votes-only';

/**
 * Reaches a 3PC participant in-process, as HTTP would, over a link a test can cut: a cut link throws
 * as an unreachable host does, before the call reaches the participant.
 */
export class InProcessThreePhaseLink implements ThreePhaseParticipantClient {
  state: LinkState = 'up';

  constructor(
    private readonly participant: Pick<
      ThreePhaseParticipant<unknown>,
      'name' | 'canCommit' | 'preCommit' | 'doCommit' | 'abort'
    >,
  ) {}

  get name(): string {
    return this.participant.name;
  }

  canCommit(gtid: string, coordinator: string, payload: unknown): Promise<Vote> {
    this.pass('can-commit');
    return this.participant.canCommit(gtid, coordinator, payload);
  }

  preCommit(gtid: string, coordinator: string, peers: string[]): Promise<PreCommitAck> {
    this.pass('pre-commit');
    return this.participant.preCommit(gtid, coordinator, peers);
  }

  doCommit(gtid: string, coordinator: string): Promise<CommitAck> {
    this.pass('do-commit');
    return this.participant.doCommit(gtid, coordinator);
  }

  abort(gtid: string, coordinator: string): Promise<void> {
    this.pass('abort');
    return this.participant.abort(gtid, coordinator);
  }

  private pass(op: string): void {
    if (this.state === 'cut' || (this.state === 'votes-only' && op !== 'can-commit'))
      throw new Error(`${this.name} is unreachable (${op})`);
  }
}
