import { Clock, systemClock } from '../core/clock';
import {
  errorMessage,
  ProtocolLogger,
  silentLogger,
  silentObserver,
  TransactionObserver,
} from '../core/observer';
import { noProtocolPoints, ProtocolPoints } from '../core/protocol-points';
import { CoordinatorClient, InDoubtBranch, PreparedResource } from '../ports/two-phase-commit.ports';
import { CommitAck, Decision, InDoubtVerdict, ResolutionConflictError, Vote } from './types';

/**
 * The participant's business step: validates the coordinator's payload and applies it in the branch's
 * local transaction. Throwing votes NO with the error's message as the reason.
 */
export type BranchWork<Tx> = (tx: Tx, payload: unknown, gtid: string) => Promise<void>;

export interface TwoPhaseParticipantOptions {
  /** A branch prepared longer ago than this is in doubt: the participant asks its coordinator. */
  inDoubtAfterMs: number;
  /** Announces protocol instants (fault injection); nothing by default. */
  points: ProtocolPoints;
}

export const defaultParticipantOptions: TwoPhaseParticipantOptions = {
  inDoubtAfterMs: 15_000,
  points: noProtocolPoints,
};

/**
 * Two-phase commit participant: votes by preparing a local transaction, commits or rolls it back on the
 * coordinator's word, and after a crash or a silent coordinator resolves in-doubt branches by asking it.
 */
export class TwoPhaseParticipant<Tx> {
  private readonly options: TwoPhaseParticipantOptions;

  constructor(
    private readonly resource: PreparedResource<Tx>,
    private readonly coordinators: CoordinatorClient,
    private readonly work: BranchWork<Tx>,
    options: Partial<TwoPhaseParticipantOptions> = {},
    private readonly observer: TransactionObserver = silentObserver,
    private readonly logger: ProtocolLogger = silentLogger,
    private readonly clock: Clock = systemClock,
  ) {
    this.options = { ...defaultParticipantOptions, ...options };
  }

  async prepare(gtid: string, coordinator: string, payload: unknown): Promise<Vote> {
    const vote = await this.resource.prepare(gtid, coordinator, async (tx) => {
      await this.work(tx, payload, gtid);
      this.options.points('2pc.participant.before-prepare', gtid);
    });
    if (vote.vote === 'yes') this.options.points('2pc.participant.after-prepare', gtid);
    if (vote.vote === 'no') this.logger.warn('2pc branch votes NO', { gtid, reason: vote.reason });
    return vote;
  }

  commit(gtid: string, coordinator: string): Promise<CommitAck> {
    this.options.points('2pc.participant.before-commit', gtid);
    return this.resource.commit(gtid, coordinator);
  }

  abort(gtid: string, coordinator: string): Promise<void> {
    return this.resource.abort(gtid, coordinator);
  }

  /** Every branch this participant holds prepared, however young (for operators). */
  prepared(): Promise<InDoubtBranch[]> {
    // A day ahead: the database's clock, not ours, stamped the branches.
    return this.resource.inDoubt(new Date(this.clock.now() + 86_400_000));
  }

  /**
   * Resolves one prepared branch on an operator's request. The coordinator is asked first: when it answers,
   * its decision is applied, and an operator decision that contradicts it is refused (nothing changes).
   * When it cannot be reached, the operator's decision is applied as a heuristic one: the branch's locks
   * go, at the price of a split outcome if the coordinator decided otherwise. A heuristic decision is
   * refused for a branch not yet in doubt (younger than `inDoubtAfterMs`). `record` runs once the verdict
   * is known and before it is applied, so that who decided and why is durable first.
   */
  async resolveInDoubt(
    branch: InDoubtBranch,
    proposed: Decision,
    record: (verdict: InDoubtVerdict) => Promise<void> = () => Promise.resolve(),
  ): Promise<InDoubtVerdict> {
    const { gtid, coordinator } = branch;
    let verdict: InDoubtVerdict;
    try {
      verdict = { gtid, decision: await this.coordinators.outcome(coordinator, gtid), heuristic: false };
    } catch (error) {
      verdict = { gtid, decision: proposed, heuristic: true, coordinatorError: errorMessage(error) };
    }
    if (verdict.decision !== proposed) {
      throw new ResolutionConflictError(
        gtid,
        `coordinator ${coordinator} decided ${verdict.decision} for ${gtid}; ${proposed} would split the outcome`,
      );
    }
    const ageMs = this.clock.now() - branch.preparedAt.getTime();
    if (verdict.heuristic && ageMs < this.options.inDoubtAfterMs) {
      throw new ResolutionConflictError(
        gtid,
        `coordinator ${coordinator} is unreachable, but ${gtid} is not in doubt yet (prepared ${Math.round(ageMs)} ms ago); try again later`,
      );
    }
    await record(verdict);
    if (verdict.decision === 'commit') {
      if ((await this.resource.commit(gtid, coordinator)) === 'unknown') {
        throw new Error(`branch ${gtid} is neither prepared nor committed here`);
      }
    } else {
      await this.resource.abort(gtid, coordinator);
    }
    const action = `${verdict.heuristic ? 'heuristic' : 'operator'}-${verdict.decision}`;
    this.observer.recovered('2pc', gtid, action);
    const fields = { gtid, coordinator, decision: verdict.decision, heuristic: verdict.heuristic };
    if (verdict.heuristic) this.logger.warn('2pc in-doubt branch resolved heuristically', fields);
    else this.logger.info('2pc in-doubt branch resolved on request', fields);
    return verdict;
  }

  /** Resolves every branch in doubt for too long by asking its coordinator; returns how many it resolved. */
  async recover(): Promise<number> {
    const olderThan = new Date(this.clock.now() - this.options.inDoubtAfterMs);
    let resolved = 0;
    for (const branch of await this.resource.inDoubt(olderThan)) {
      try {
        const decision = await this.coordinators.outcome(branch.coordinator, branch.gtid);
        if (decision === 'commit') await this.resource.commit(branch.gtid, branch.coordinator);
        else await this.resource.abort(branch.gtid, branch.coordinator);
        this.observer.recovered('2pc', branch.gtid, `participant-${decision}`);
        this.logger.info('2pc in-doubt branch resolved', { gtid: branch.gtid, decision });
        resolved += 1;
      } catch (error) {
        // The coordinator is unreachable: the branch stays prepared (2PC blocks here by design) and the
        // next sweep asks again.
        this.logger.warn('2pc in-doubt branch still unresolved', {
          gtid: branch.gtid,
          error: errorMessage(error),
        });
      }
    }
    return resolved;
  }
}
