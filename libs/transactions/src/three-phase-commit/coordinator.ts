import { backoffDelay, Clock, systemClock, withTimeout } from '../core/clock';
import {
  errorMessage,
  ProtocolLogger,
  silentLogger,
  silentObserver,
  TransactionObserver,
} from '../core/observer';
import { noProtocolPoints, ProtocolPoints } from '../core/protocol-points';
import { recoverEach } from '../core/recovery';
import { BranchRecord, GlobalTransactionRecord } from '../ports/global-transaction';
import {
  PreCommitAck,
  ThreePhaseCoordinatorLog,
  ThreePhaseParticipantClient,
} from '../ports/three-phase-commit.ports';
import {
  Branch,
  Decision,
  OutcomeUnknownError,
  TransactionAbortedError,
  TwoPhaseResult,
} from '../two-phase-commit/types';
import {
  checkBranches,
  participantClient,
  recoveryBackoffMs,
  voteRecord,
} from '../two-phase-commit/branch-calls';

export interface ThreePhaseCoordinatorOptions {
  /** Name participants file branches under (the coordinating service's name). */
  name: string;
  /** A participant whose CanCommit vote has not arrived by then is counted as NO. */
  voteTimeoutMs: number;
  /** Time allowed for one PreCommit, DoCommit or abort call to a participant. */
  callTimeoutMs: number;
  /** PreCommit and DoCommit attempts made inline before leaving the rest to recovery. */
  inlineAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Lease a recovering replica holds on a claimed transaction. */
  recoveryLeaseMs: number;
  /** Longest wait before recovery tries an unfinished transaction again. */
  recoveryRetryMaxMs: number;
  recoveryBatch: number;
  /** Announces protocol instants (fault injection); nothing by default. */
  points: ProtocolPoints;
}

export const defaultThreePhaseCoordinatorOptions: Omit<ThreePhaseCoordinatorOptions, 'name'> = {
  voteTimeoutMs: 3_000,
  callTimeoutMs: 3_000,
  inlineAttempts: 3,
  retryBaseMs: 50,
  retryMaxMs: 1_000,
  recoveryLeaseMs: 15_000,
  recoveryRetryMaxMs: 5_000,
  recoveryBatch: 50,
  points: noProtocolPoints,
};

export interface ThreePhaseRequest {
  /** Minted by the coordinating service (`newGtid`), never taken from a client. */
  gtid: string;
  correlationId?: string;
  branches: Branch[];
}

/** How the PreCommit round ended: every branch pre-committed, one aborted, or some never answered. */
type PreCommitRound =
  { outcome: 'precommitted' } | { outcome: 'aborted'; by: string } | { outcome: 'unanswered' };

/**
 * Three-phase commit coordinator. CanCommit prepares every branch and collects the votes; `precommitting`
 * is logged durably; PreCommit moves every branch to the state in which it commits even without the
 * coordinator; DoCommit commits them. Framework-free, over ports, like the 2PC coordinator it shares its
 * branch model, log table and errors with.
 *
 * Invariants (the README gives the argument): the coordinator aborts after sending PreCommit only when a
 * participant answered `aborted` — a branch that gave up before it was pre-committed, so no branch can
 * ever commit; it sends DoCommit only once every branch answered PreCommit. A PreCommit that gets no
 * answer is retried, never taken for a NO.
 */
export class ThreePhaseCoordinator {
  private readonly options: ThreePhaseCoordinatorOptions;
  private readonly participants: Map<string, ThreePhaseParticipantClient>;

  constructor(
    private readonly log: ThreePhaseCoordinatorLog,
    participants: ThreePhaseParticipantClient[],
    options: Partial<ThreePhaseCoordinatorOptions> & { name: string },
    private readonly observer: TransactionObserver = silentObserver,
    private readonly logger: ProtocolLogger = silentLogger,
    private readonly clock: Clock = systemClock,
  ) {
    this.options = { ...defaultThreePhaseCoordinatorOptions, ...options };
    this.participants = new Map(participants.map((p) => [p.name, p]));
  }

  /**
   * Runs one transaction. Resolves once it committed (`acknowledged` false when some DoCommit is still
   * owed: recovery or the participants' own time-outs finish it). Throws TransactionAbortedError when it
   * aborted, OutcomeUnknownError when PreCommit could not be completed inline (the outcome is then settled
   * by recovery and the participants' termination, and may be either).
   */
  async execute(request: ThreePhaseRequest): Promise<TwoPhaseResult & { outcome: 'committed' }> {
    const { gtid, branches } = request;
    const started = this.clock.now();
    checkBranches(gtid, branches, this.participants);
    this.observer.started('3pc', gtid);
    const names = branches.map((b) => b.participant);
    await this.log.begin(gtid, names, request.correlationId);

    const votes = await Promise.all(branches.map((b) => this.canCommit(gtid, b)));
    const refused = votes.filter((v) => v.state !== 'prepared');
    if (refused.length > 0) {
      const reasons = refused.map((v) => `${v.participant}: ${v.reason ?? 'refused'}`);
      await this.abort(gtid, reasons.join('; '), names, started);
      throw new TransactionAbortedError(gtid, reasons);
    }
    this.options.points('3pc.coordinator.after-can-commit', gtid);
    if ((await this.log.precommit(gtid, votes)) === 'abort') {
      const reason = 'an abort was recorded first (recovery took the transaction for abandoned)';
      await this.abort(gtid, reason, names, started);
      throw new TransactionAbortedError(gtid, [reason]);
    }
    return this.finish(gtid, names, started, this.options.inlineAttempts, true);
  }

  /** Drives every unfinished transaction it can claim to its end; returns how many it finished. */
  async recover(): Promise<number> {
    const { recoveryBatch, recoveryLeaseMs, voteTimeoutMs } = this.options;
    const claimed = await this.log.claimUnfinished(recoveryBatch, recoveryLeaseMs, voteTimeoutMs * 2);
    return recoverEach(
      claimed,
      (record) => this.recoverOne(record),
      (record, error) => this.log.noteRetry(record.gtid, error),
      this.logger,
      '3pc',
    );
  }

  private async recoverOne(record: GlobalTransactionRecord): Promise<boolean> {
    const { gtid } = record;
    const names = record.branches.map((b) => b.participant);
    const started = this.clock.now();
    let finished: boolean;
    if (record.state === 'preparing') {
      // No PreCommit ever left (`precommitting` is logged first): every branch is at most uncertain. A
      // live coordinator that logged `precommitting` meanwhile wins, and the transaction is driven on.
      const inForce = await this.log.decideAbort(gtid, 'coordinator did not finish CanCommit in time');
      const aborting = inForce === 'aborting' || inForce === 'aborted';
      this.observer.recovered('3pc', gtid, aborting ? 'abort' : 'redrive');
      finished = aborting
        ? await this.drive(gtid, 'abort', names, 1)
        : (await this.finishQuietly(gtid, names, started)) !== 'unfinished';
    } else if (record.state === 'precommitting' || record.state === 'committing') {
      // The participants may have moved on without us (time-outs, termination): PreCommit again learns
      // where each stands, and every branch answering pre-committed or committed means commit.
      this.observer.recovered('3pc', gtid, 'redrive');
      finished = (await this.finishQuietly(gtid, names, started)) !== 'unfinished';
    } else {
      this.observer.recovered('3pc', gtid, 'abort');
      finished = await this.drive(gtid, 'abort', names, 1);
    }
    if (!finished)
      await this.log.noteRetry(
        gtid,
        'not every participant answered',
        recoveryBackoffMs(record.retries, this.options),
      );
    return finished;
  }

  /** `finish` for recovery: an abort or an unknown outcome is a result, not an error. */
  private async finishQuietly(
    gtid: string,
    names: string[],
    started: number,
  ): Promise<'committed' | 'aborted' | 'unfinished'> {
    try {
      const result = await this.finish(gtid, names, started, 1, false);
      return result.acknowledged ? 'committed' : 'unfinished';
    } catch (error) {
      if (error instanceof TransactionAbortedError) return 'aborted';
      if (error instanceof OutcomeUnknownError) return 'unfinished';
      throw error;
    }
  }

  /** PreCommit round, then DoCommit, from `precommitting` (or a later state) on. */
  private async finish(
    gtid: string,
    names: string[],
    started: number,
    attempts: number,
    inline: boolean,
  ): Promise<TwoPhaseResult & { outcome: 'committed' }> {
    const round = await this.preCommit(gtid, names, attempts);
    if (round.outcome === 'aborted') {
      const reason = `${round.by} aborted its branch before it was pre-committed`;
      await this.abort(gtid, reason, names, started, true);
      throw new TransactionAbortedError(gtid, [reason]);
    }
    if (round.outcome === 'unanswered') {
      this.logger.warn('3pc PreCommit unanswered; recovery and the participants settle it', { gtid });
      if (inline) await this.log.noteRetry(gtid, 'PreCommit unanswered', 0).catch(() => undefined);
      throw new OutcomeUnknownError(gtid, new Error('PreCommit not acknowledged by every participant'));
    }
    const branches = names.map((participant): BranchRecord => ({ participant, state: 'prepared' }));
    await this.log.decideCommit(gtid, branches);
    this.options.points('3pc.coordinator.after-pre-commit', gtid);
    const acknowledged = await this.drive(gtid, 'commit', names, attempts);
    if (acknowledged) this.observer.finished('3pc', gtid, 'committed', this.clock.now() - started);
    return { gtid, outcome: 'committed', acknowledged };
  }

  private async preCommit(gtid: string, names: string[], attempts: number): Promise<PreCommitRound> {
    // The participants that terminate among themselves when the coordinator is gone: not the
    // coordinator's own branch, which its recovery settles (it is down with it).
    const peers = names.filter((name) => name !== this.options.name);
    let first = true;
    const answers = await Promise.all(
      names.map(async (participant): Promise<PreCommitAck | undefined> => {
        for (let attempt = 0; attempt < attempts; attempt += 1) {
          if (attempt > 0)
            await this.clock.sleep(backoffDelay(attempt, this.options.retryBaseMs, this.options.retryMaxMs));
          let ack: PreCommitAck;
          try {
            ack = await withTimeout(
              this.client(participant).preCommit(gtid, this.options.name, peers),
              this.options.callTimeoutMs,
              `PreCommit at ${participant}`,
              this.clock,
            );
          } catch (error) {
            this.observer.retried('3pc', gtid, 'pre-commit', `${participant}: ${errorMessage(error)}`);
            continue;
          }
          if (first) {
            first = false;
            this.options.points('3pc.coordinator.mid-pre-commit', gtid);
          }
          return ack;
        }
        return undefined;
      }),
    );
    const aborted = names.find((_, i) => answers[i] === 'aborted');
    if (aborted !== undefined) return { outcome: 'aborted', by: aborted };
    return answers.includes(undefined) ? { outcome: 'unanswered' } : { outcome: 'precommitted' };
  }

  private client(name: string): ThreePhaseParticipantClient {
    return participantClient(this.participants, name);
  }

  private canCommit(gtid: string, branch: Branch): Promise<BranchRecord> {
    const { participant } = branch;
    const vote = this.client(participant).canCommit(gtid, this.options.name, branch.payload);
    return voteRecord(participant, vote, this.options.voteTimeoutMs, this.clock);
  }

  /** Logs ABORT (over `precommitting` only when a branch answered aborted) and tells every participant. */
  private async abort(
    gtid: string,
    reason: string,
    names: string[],
    started: number,
    overPrecommit = false,
  ): Promise<void> {
    this.logger.warn('3pc aborting', { gtid, reason });
    const branches = names.map((participant): BranchRecord => ({ participant, state: 'pending' }));
    const inForce = await this.log.decideAbort(gtid, reason, { branches, overPrecommit });
    if (inForce !== 'aborting' && inForce !== 'aborted')
      throw new Error(`3pc log holds ${inForce} for ${gtid} while aborting`);
    if (await this.drive(gtid, 'abort', names, 1))
      this.observer.finished('3pc', gtid, 'aborted', this.clock.now() - started);
  }

  /**
   * Sends DoCommit or abort to every participant until each acknowledges or `attempts` run out; true (and
   * the log completed) once all did. Unacknowledged ones are left to recovery and the participants.
   */
  private async drive(gtid: string, decision: Decision, names: string[], attempts: number): Promise<boolean> {
    const pending = new Set(names);
    const done: BranchRecord[] = [];
    let first = true;
    for (let attempt = 0; attempt < attempts && pending.size > 0; attempt += 1) {
      if (attempt > 0)
        await this.clock.sleep(backoffDelay(attempt, this.options.retryBaseMs, this.options.retryMaxMs));
      await Promise.all(
        [...pending].map(async (participant) => {
          try {
            await this.tell(gtid, decision, participant);
          } catch (error) {
            this.observer.retried('3pc', gtid, decision, `${participant}: ${errorMessage(error)}`);
            return;
          }
          if (decision === 'commit' && first) {
            first = false;
            this.options.points('3pc.coordinator.mid-do-commit', gtid);
          }
          pending.delete(participant);
          done.push({ participant, state: decision === 'commit' ? 'committed' : 'aborted' });
        }),
      );
    }
    if (pending.size > 0) {
      this.logger.warn('3pc last phase incomplete; recovery will finish it', {
        gtid,
        decision,
        pending: [...pending],
      });
      return false;
    }
    try {
      await this.log.complete(gtid, decision, done);
    } catch (error) {
      this.logger.warn('3pc completion mark not written; recovery will finish it', {
        gtid,
        error: errorMessage(error),
      });
      return false;
    }
    return true;
  }

  private async tell(gtid: string, decision: Decision, participant: string): Promise<void> {
    const client = this.client(participant);
    const { name, callTimeoutMs } = this.options;
    if (decision === 'abort') {
      await withTimeout(client.abort(gtid, name), callTimeoutMs, `abort at ${participant}`, this.clock);
      return;
    }
    const ack = await withTimeout(
      client.doCommit(gtid, name),
      callTimeoutMs,
      `DoCommit at ${participant}`,
      this.clock,
    );
    // Every branch answered PreCommit, so each is prepared or committed: 'unknown' is a broken participant.
    if (ack === 'unknown') throw new Error(`${participant} knows no pre-committed branch for ${gtid}`);
  }
}
