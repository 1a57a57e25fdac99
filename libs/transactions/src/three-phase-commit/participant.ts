import { Clock, systemClock, withTimeout } from '../core/clock';
import {
  errorMessage,
  ProtocolLogger,
  silentLogger,
  silentObserver,
  TransactionObserver,
} from '../core/observer';
import { noProtocolPoints, ProtocolPoints } from '../core/protocol-points';
import {
  PreCommitAck,
  ThreePhaseParticipantClient,
  ThreePhaseStateStore,
  TimedOutBranch,
} from '../ports/three-phase-commit.ports';
import { PreparedResource } from '../ports/two-phase-commit.ports';
import { BranchWork } from '../two-phase-commit/participant';
import { CommitAck, Vote } from '../two-phase-commit/types';

/**
 * What a pre-committed participant does when its time-out runs out and the coordinator is silent.
 * - `peers` (default): it first pre-commits every other participant itself and commits only when all
 *   answered pre-committed or committed; one that answers aborted makes it abort; one it cannot reach
 *   makes it wait and ask again. A coordinator crash never blocks; a partition blocks the cut-off side
 *   instead of splitting the outcome.
 * - `textbook`: it commits at once, as the protocol is usually taught. A partition during PreCommit can
 *   then commit one side while the other aborts; kept to show that hazard (see the README).
 */
export type TerminationPolicy = 'peers' | 'textbook';

export interface ThreePhaseParticipantOptions {
  /** This participant's own name, as coordinators and peers call it. */
  name: string;
  /** Uncertain (voted YES, no PreCommit) for longer than this: the branch aborts on its own. */
  uncertainTimeoutMs: number;
  /** Pre-committed for longer than this without DoCommit: the branch terminates (see `termination`). */
  precommitTimeoutMs: number;
  termination: TerminationPolicy;
  /** Time allowed for one PreCommit sent to a peer during termination. */
  peerCallTimeoutMs: number;
  sweepLimit: number;
  points: ProtocolPoints;
}

export const defaultThreePhaseParticipantOptions: Omit<ThreePhaseParticipantOptions, 'name'> = {
  uncertainTimeoutMs: 10_000,
  precommitTimeoutMs: 10_000,
  termination: 'peers',
  peerCallTimeoutMs: 2_000,
  sweepLimit: 100,
  points: noProtocolPoints,
};

/** The other participants of a transaction, reached as a coordinator would reach them. */
export type PeerClients = (peer: string) => ThreePhaseParticipantClient | undefined;

/**
 * Three-phase commit participant. CanCommit prepares the branch (a PostgreSQL prepared transaction in
 * production, as in 2PC) and votes; PreCommit is recorded durably beside it; DoCommit commits it. Its
 * sweeper ends branches the coordinator left alone: an uncertain one aborts, a pre-committed one
 * terminates by the chosen policy.
 */
export class ThreePhaseParticipant<Tx> {
  private readonly options: ThreePhaseParticipantOptions;

  constructor(
    private readonly resource: PreparedResource<Tx>,
    private readonly states: ThreePhaseStateStore,
    private readonly peers: PeerClients,
    private readonly work: BranchWork<Tx>,
    options: Partial<ThreePhaseParticipantOptions> & { name: string },
    private readonly observer: TransactionObserver = silentObserver,
    private readonly logger: ProtocolLogger = silentLogger,
    private readonly clock: Clock = systemClock,
  ) {
    this.options = { ...defaultThreePhaseParticipantOptions, ...options };
  }

  get name(): string {
    return this.options.name;
  }

  async canCommit(gtid: string, coordinator: string, payload: unknown): Promise<Vote> {
    const vote = await this.resource.prepare(gtid, coordinator, (tx) => this.work(tx, payload, gtid));
    if (vote.vote === 'yes') this.options.points('3pc.participant.after-can-commit', gtid);
    else this.logger.warn('3pc branch votes NO', { gtid, reason: vote.reason });
    return vote;
  }

  async preCommit(gtid: string, coordinator: string, peers: string[]): Promise<PreCommitAck> {
    const ack = await this.states.precommit(gtid, coordinator, peers);
    if (ack === 'not-prepared') {
      // The vote never arrived (or was never cast): this branch can never be pre-committed now.
      await this.abortBranch(gtid, coordinator, false);
      return 'aborted';
    }
    if (ack === 'precommitted') this.options.points('3pc.participant.after-pre-commit', gtid);
    return ack;
  }

  async doCommit(gtid: string, coordinator: string): Promise<CommitAck> {
    this.options.points('3pc.participant.before-do-commit', gtid);
    // Every branch answered PreCommit before any DoCommit: an aborted one here is a broken protocol.
    if ((await this.states.phase(gtid, coordinator)) === 'aborted')
      throw new Error(`branch ${gtid} is aborted and cannot commit`);
    return this.resource.commit(gtid, coordinator);
  }

  /** The coordinator's abort: over PreCommit too (it aborts only when some branch can never commit). */
  abort(gtid: string, coordinator: string): Promise<void> {
    return this.abortBranch(gtid, coordinator, true);
  }

  /**
   * Ends the branches whose time-out ran out (and finishes aborts a crash interrupted); answers how many
   * it ended. Branches it cannot end yet (a pre-committed one whose peers are out of reach) stay for the
   * next sweep. A branch of a transaction this service coordinates is left to its coordinator's recovery:
   * the other participants terminate without it, and it follows whatever they reached.
   */
  async sweep(): Promise<number> {
    const { uncertainTimeoutMs, precommitTimeoutMs, sweepLimit, name } = this.options;
    let ended = 0;
    for (const branch of await this.states.timedOut(uncertainTimeoutMs, precommitTimeoutMs, sweepLimit)) {
      if (branch.coordinator === name && branch.phase !== 'aborted') continue;
      try {
        if (await this.terminate(branch)) ended += 1;
      } catch (error) {
        this.logger.warn('3pc branch not terminated yet', { gtid: branch.gtid, error: errorMessage(error) });
      }
    }
    return ended;
  }

  private async terminate(branch: TimedOutBranch): Promise<boolean> {
    const { gtid, coordinator } = branch;
    if (branch.phase === 'aborted') {
      await this.resource.abort(gtid, coordinator);
      return true;
    }
    if (branch.phase === 'uncertain') {
      // Uncertain → abort: no branch has committed, nor can it once this one refuses PreCommit.
      if ((await this.states.markAborted(gtid, coordinator, false)) === 'aborted') {
        await this.resource.abort(gtid, coordinator);
        this.ended(gtid, 'timeout-abort');
        return true;
      }
      return false; // PreCommit landed first: the branch terminates as pre-committed next time.
    }
    if (this.options.termination === 'textbook') {
      await this.commitBranch(gtid, coordinator, 'timeout-commit');
      return true;
    }
    const answers = await Promise.all(
      branch.peers
        .filter((peer) => peer !== this.options.name)
        .map(async (peer): Promise<PreCommitAck | 'unreachable'> => {
          const client = this.peers(peer);
          if (!client) return 'unreachable';
          try {
            return await withTimeout(
              client.preCommit(gtid, coordinator, branch.peers),
              this.options.peerCallTimeoutMs,
              `PreCommit at peer ${peer}`,
              this.clock,
            );
          } catch {
            return 'unreachable';
          }
        }),
    );
    if (answers.includes('aborted')) {
      // A peer gave up before it was pre-committed: no branch can ever commit.
      await this.abortBranch(gtid, coordinator, true);
      this.ended(gtid, 'termination-abort');
      return true;
    }
    if (answers.includes('unreachable')) {
      this.logger.warn('3pc pre-committed branch waits: a peer is out of reach', { gtid });
      return false;
    }
    await this.commitBranch(gtid, coordinator, 'termination-commit');
    return true;
  }

  private async commitBranch(gtid: string, coordinator: string, action: string): Promise<void> {
    if ((await this.resource.commit(gtid, coordinator)) === 'unknown')
      throw new Error(`branch ${gtid} is neither prepared nor committed here`);
    this.ended(gtid, action);
  }

  private async abortBranch(gtid: string, coordinator: string, overPrecommit: boolean): Promise<void> {
    if ((await this.states.markAborted(gtid, coordinator, overPrecommit)) === 'aborted')
      await this.resource.abort(gtid, coordinator);
  }

  private ended(gtid: string, action: string): void {
    this.observer.recovered('3pc', gtid, action);
    this.logger.info('3pc branch ended without its coordinator', { gtid, action });
  }
}
