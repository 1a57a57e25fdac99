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
import { ParticipantClient, TwoPhaseCoordinatorLog } from '../ports/two-phase-commit.ports';
import { checkBranches, participantClient, recoveryBackoffMs, voteRecord } from './branch-calls';
import {
  Branch,
  CommitAck,
  Decision,
  InDoubtVerdict,
  NotInDoubtError,
  OutcomeUnknownError,
  ResolutionConflictError,
  TransactionAbortedError,
  TwoPhaseResult,
} from './types';

export interface TwoPhaseCoordinatorOptions {
  /** Name participants use to ask this coordinator for outcomes (its service name). */
  name: string;
  /** A participant whose vote has not arrived by then is counted as NO. */
  voteTimeoutMs: number;
  /** Phase-two attempts made inline before leaving the rest to recovery. */
  inlineCommitAttempts: number;
  /** Time allowed for one commit or abort call to a participant. */
  callTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /**
   * When phase two did not finish inline, the live coordinator keeps at it in the background, at most
   * this long between attempts: a participant that comes back commits (and releases its locks) at once.
   */
  phaseTwoRetryMaxMs: number;
  /** How long the live coordinator keeps retrying phase two before it leaves the transaction to recovery. */
  phaseTwoPatienceMs: number;
  /** Lease a recovering replica holds on a claimed transaction. */
  recoveryLeaseMs: number;
  /** Longest wait before recovery tries an unfinished transaction again. */
  recoveryRetryMaxMs: number;
  recoveryBatch: number;
  /** Announces protocol instants (fault injection); nothing by default. */
  points: ProtocolPoints;
}

export const defaultCoordinatorOptions: Omit<TwoPhaseCoordinatorOptions, 'name'> = {
  voteTimeoutMs: 5_000,
  inlineCommitAttempts: 3,
  callTimeoutMs: 5_000,
  retryBaseMs: 50,
  retryMaxMs: 2_000,
  phaseTwoRetryMaxMs: 1_000,
  phaseTwoPatienceMs: 60_000,
  recoveryLeaseMs: 30_000,
  recoveryRetryMaxMs: 5_000,
  recoveryBatch: 50,
  points: noProtocolPoints,
};

export interface TwoPhaseRequest<Tx> {
  /** Minted by the coordinating service (`newGtid`), never taken from a client. */
  gtid: string;
  /** The client's own reference for the request (`x-gtid` or `x-correlation-id`), kept beside the gtid. */
  correlationId?: string;
  branches: Branch[];
  /** The coordinator's own writes; they commit in the same local transaction as the COMMIT decision. */
  local?: (tx: Tx) => Promise<void>;
}

/**
 * Two-phase commit coordinator, presumed abort. Framework-free: it talks to its log and its participants
 * only through ports, so the same core runs over PostgreSQL and HTTP in services and over in-memory
 * adapters in property tests.
 *
 * Invariant: a participant is told to commit only after COMMIT is durable in the log, and COMMIT is
 * recorded only after every participant voted YES and no ABORT was recorded first.
 */
export class TwoPhaseCoordinator<Tx> {
  private readonly options: TwoPhaseCoordinatorOptions;
  private readonly participants: Map<string, ParticipantClient>;
  /** Phase twos still being driven after their request was answered (see `continuePhaseTwo`). */
  private readonly unfinished = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly log: TwoPhaseCoordinatorLog<Tx>,
    participants: ParticipantClient[],
    options: Partial<TwoPhaseCoordinatorOptions> & { name: string },
    private readonly observer: TransactionObserver = silentObserver,
    private readonly logger: ProtocolLogger = silentLogger,
    private readonly clock: Clock = systemClock,
  ) {
    this.options = { ...defaultCoordinatorOptions, ...options };
    this.participants = new Map(participants.map((p) => [p.name, p]));
  }

  /**
   * Runs one global transaction to its decision. Resolves when the decision is durable: with
   * `acknowledged` true once every participant confirmed phase two, false when recovery will finish it.
   * Throws TransactionAbortedError when the transaction aborted, or the local work's own error.
   */
  async execute(request: TwoPhaseRequest<Tx>): Promise<TwoPhaseResult & { outcome: 'committed' }> {
    const { gtid, branches } = request;
    const started = this.clock.now();
    checkBranches(gtid, branches, this.participants);
    this.observer.started('2pc', gtid);
    await this.log.begin(
      gtid,
      branches.map((b) => b.participant),
      request.correlationId,
    );

    const votes = await Promise.all(branches.map((b) => this.collectVote(gtid, b)));
    const refused = votes.filter((v) => v.state !== 'prepared');
    if (refused.length > 0) {
      const reasons = refused.map((v) => `${v.participant}: ${v.reason ?? 'refused'}`);
      await this.abort(gtid, reasons.join('; '), votes, started);
      throw new TransactionAbortedError(gtid, reasons);
    }

    this.options.points('2pc.coordinator.before-decision', gtid);
    let decision: Decision;
    try {
      decision = await this.log.decideCommit(gtid, votes, request.local);
    } catch (error) {
      // Either the local work failed (nothing recorded) or the commit's acknowledgement was lost after it
      // took effect. Recording ABORT settles which: it answers 'commit' when the COMMIT did land.
      let inForce: Decision;
      try {
        inForce = await this.log.decideAbort(gtid, `coordinator: ${errorMessage(error)}`, votes);
      } catch (logError) {
        throw new OutcomeUnknownError(gtid, logError);
      }
      if (inForce === 'abort') {
        await this.abort(gtid, `coordinator: ${errorMessage(error)}`, votes, started);
        throw error;
      }
      decision = 'commit';
    }
    if (decision === 'abort') {
      const reason =
        'an abort was recorded before the commit decision (vote time-out or participant inquiry)';
      await this.abort(gtid, reason, votes, started);
      throw new TransactionAbortedError(gtid, [reason]);
    }
    this.logger.info('2pc commit decided', { gtid, participants: votes.map((v) => v.participant) });
    this.options.points('2pc.coordinator.after-decision', gtid);

    const acknowledged = await this.drive(gtid, 'commit', votes, this.options.inlineCommitAttempts);
    if (acknowledged) this.observer.finished('2pc', gtid, 'committed', this.clock.now() - started);
    else this.continuePhaseTwo(gtid, 'commit', votes, started);
    return { gtid, outcome: 'committed', acknowledged };
  }

  /**
   * Answers a participant's inquiry about an in-doubt branch. Presumed abort: a transaction without a
   * durable COMMIT is recorded as aborted first, so the coordinator can never decide COMMIT afterwards.
   */
  async outcome(gtid: string): Promise<Decision> {
    return this.log.decideAbort(gtid, 'participant inquired before any decision');
  }

  /** Stops the phase twos still being driven in the background (recovery takes them over). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.unfinished);
  }

  /** Drives every unfinished transaction it can claim to completion; returns how many it finished. */
  async recover(): Promise<number> {
    const { recoveryBatch, recoveryLeaseMs, voteTimeoutMs } = this.options;
    const claimed = await this.log.claimUnfinished(recoveryBatch, recoveryLeaseMs, voteTimeoutMs * 2);
    return recoverEach(
      claimed,
      (record) => this.recoverOne(record),
      (record, error) => this.log.noteRetry(record.gtid, error),
      this.logger,
      '2pc',
    );
  }

  /**
   * Resolves one unfinished transaction on an operator's request, as recovery would but now: one still
   * `preparing` is aborted (presumed abort makes that safe; COMMIT is refused, the votes are not durable),
   * one `committing` or `aborting` has phase two driven again. A decision contradicting the log is refused
   * (nothing changes). `record` runs before anything is applied. Resolves with the verdict and whether
   * every participant acknowledged.
   */
  async resolveUnfinished(
    transaction: GlobalTransactionRecord,
    proposed: Decision,
    record: (verdict: InDoubtVerdict) => Promise<void> = () => Promise.resolve(),
  ): Promise<InDoubtVerdict & { acknowledged: boolean }> {
    const { gtid, state } = transaction;
    if (state === 'preparing') {
      if (proposed === 'commit') {
        throw new ResolutionConflictError(
          gtid,
          `${gtid} has no durable decision: only abort is safe (presumed abort), commit is refused`,
        );
      }
    } else if (state === 'committing' || state === 'aborting') {
      const inForce: Decision = state === 'committing' ? 'commit' : 'abort';
      if (proposed !== inForce) {
        throw new ResolutionConflictError(gtid, `${gtid} is decided ${inForce}; ${proposed} is refused`);
      }
    } else {
      throw new NotInDoubtError(gtid, `global transaction ${gtid} is ${state}, not in doubt`);
    }
    await record({ gtid, decision: proposed, heuristic: false });
    const acknowledged = await this.recoverOne(transaction);
    // A live coordinator may have decided in between; the log's decision is the one that was driven.
    const after = await this.log.state(gtid);
    const decision: Decision = after === 'committing' || after === 'committed' ? 'commit' : 'abort';
    return { gtid, decision, heuristic: false, acknowledged };
  }

  private async recoverOne(record: GlobalTransactionRecord): Promise<boolean> {
    const { gtid } = record;
    let decision: Decision;
    if (record.state === 'preparing') {
      decision = await this.log.decideAbort(gtid, 'coordinator did not decide in time');
    } else {
      decision = record.state === 'committing' || record.state === 'committed' ? 'commit' : 'abort';
    }
    this.observer.recovered('2pc', gtid, decision === 'commit' ? 'recommit' : 'abort');
    this.logger.info('2pc recovery drives phase two', { gtid, decision });
    const finished = await this.drive(gtid, decision, record.branches, 1);
    if (!finished) {
      // Back off: claimable again after 1 s, 2 s, 4 s… up to `recoveryRetryMaxMs`, not a full lease later.
      await this.log.noteRetry(
        gtid,
        'phase two not acknowledged by every participant',
        recoveryBackoffMs(record.retries, this.options),
      );
    }
    return finished;
  }

  private client(name: string): ParticipantClient {
    return participantClient(this.participants, name);
  }

  private collectVote(gtid: string, branch: Branch): Promise<BranchRecord> {
    const { participant } = branch;
    const vote = this.client(participant).prepare(gtid, this.options.name, branch.payload);
    return voteRecord(participant, vote, this.options.voteTimeoutMs, this.clock);
  }

  private async abort(
    gtid: string,
    reason: string,
    branches: BranchRecord[],
    started: number,
  ): Promise<void> {
    this.logger.warn('2pc aborting', { gtid, reason });
    const decision = await this.log.decideAbort(gtid, reason, branches);
    if (decision === 'commit') {
      // Cannot happen for a live coordinator (it decides COMMIT itself); guard against a broken log.
      throw new Error(`2pc log holds COMMIT for ${gtid} while aborting`);
    }
    const acknowledged = await this.drive(gtid, 'abort', branches, 1);
    if (acknowledged) this.observer.finished('2pc', gtid, 'aborted', this.clock.now() - started);
    else this.continuePhaseTwo(gtid, 'abort', branches, started);
  }

  /**
   * Phase two that did not finish inline goes on in the background: until a participant commits or rolls
   * back its prepared transaction it holds its row locks, and the participant that failed is most often
   * back within seconds. Attempts come at most `phaseTwoRetryMaxMs` apart, each under a lease renewed so
   * that no recovering replica drives the same transaction meanwhile; a crash of this process leaves the
   * transaction to recovery once the lease runs out, and so does `phaseTwoPatienceMs` without success.
   */
  private continuePhaseTwo(
    gtid: string,
    decision: Decision,
    branches: BranchRecord[],
    started: number,
  ): void {
    if (this.stopped) return;
    // The same lease a recovering replica takes: a crash here delays recovery no more than one there.
    const { retryBaseMs, phaseTwoRetryMaxMs, phaseTwoPatienceMs, recoveryLeaseMs: leaseMs } = this.options;
    const giveUpAt = this.clock.now() + phaseTwoPatienceMs;
    const driving = (async () => {
      for (let attempt = 1; !this.stopped && this.clock.now() < giveUpAt; attempt += 1) {
        await this.clock.sleep(backoffDelay(attempt, retryBaseMs, phaseTwoRetryMaxMs));
        if (this.stopped) break;
        await this.log.noteRetry(gtid, `${decision} retried by its coordinator`, leaseMs);
        if (await this.drive(gtid, decision, branches, 1)) {
          this.observer.finished(
            '2pc',
            gtid,
            decision === 'commit' ? 'committed' : 'aborted',
            this.clock.now() - started,
          );
          return;
        }
      }
      // Claimable by recovery (here or on another replica) straight away.
      await this.log.noteRetry(gtid, `${decision} left to recovery`, 0);
    })()
      .catch((error: unknown) =>
        this.logger.warn('2pc phase two left to recovery', { gtid, decision, error: errorMessage(error) }),
      )
      .finally(() => this.unfinished.delete(driving));
    this.unfinished.add(driving);
  }

  /**
   * Phase two: sends the decision to every participant until each acknowledges or `attempts` run out.
   * Returns true (and completes the log record) once all acknowledged; otherwise recovery carries on.
   */
  private async drive(
    gtid: string,
    decision: Decision,
    branches: BranchRecord[],
    attempts: number,
  ): Promise<boolean> {
    const pending = new Map(branches.map((b) => [b.participant, b]));
    const done: BranchRecord[] = [];
    for (let attempt = 0; attempt < attempts && pending.size > 0; attempt += 1) {
      if (attempt > 0)
        await this.clock.sleep(backoffDelay(attempt, this.options.retryBaseMs, this.options.retryMaxMs));
      await Promise.all(
        [...pending.values()].map(async (branch) => {
          try {
            await this.tell(gtid, decision, branch.participant);
            if (decision === 'commit') this.options.points('2pc.coordinator.mid-phase-two', gtid);
            pending.delete(branch.participant);
            done.push({
              participant: branch.participant,
              state: decision === 'commit' ? 'committed' : 'aborted',
            });
          } catch (error) {
            const message = `${decision} ${branch.participant}: ${errorMessage(error)}`;
            this.observer.retried('2pc', gtid, decision, message);
            await this.log.noteRetry(gtid, message).catch(() => undefined);
          }
        }),
      );
    }
    if (pending.size > 0) {
      this.logger.warn('2pc phase two incomplete; recovery will finish it', {
        gtid,
        decision,
        pending: [...pending.keys()],
      });
      return false;
    }
    try {
      await this.log.complete(gtid, decision, done);
    } catch (error) {
      // Bookkeeping only: the decision stands and every participant acknowledged; recovery re-marks it.
      this.logger.warn('2pc completion mark not written; recovery will finish it', {
        gtid,
        error: errorMessage(error),
      });
      return false;
    }
    return true;
  }

  private async tell(gtid: string, decision: Decision, participant: string): Promise<void> {
    const client = this.client(participant);
    const call: Promise<CommitAck | void> = decision === 'commit' ? client.commit(gtid) : client.abort(gtid);
    const ack = await withTimeout(
      call,
      this.options.callTimeoutMs,
      `${decision} at ${participant}`,
      this.clock,
    );
    if (ack === 'unknown') {
      // The participant holds neither a prepared nor a committed branch: under COMMIT that would be a
      // lost vote, which the participant's durable prepare rules out. Keep retrying and make it visible.
      throw new Error(`${participant} knows no prepared branch for ${gtid}`);
    }
  }
}
