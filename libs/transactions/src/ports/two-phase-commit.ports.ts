import { BranchRecord, GlobalTransactionRecord } from './global-transaction';

/** The coordinator's decision. Presumed abort: no durable COMMIT means abort. */
export type Decision = 'commit' | 'abort';

/**
 * States of a global transaction in the coordinator's log.
 * preparing → committing → committed, or preparing → aborting → aborted.
 * `committing` and `aborting` mean the decision is durable and phase two is still being driven.
 */
export type TwoPhaseState = 'preparing' | 'committing' | 'committed' | 'aborting' | 'aborted';

export type Vote = { vote: 'yes' } | { vote: 'no'; reason: string };

/** A participant's answer to "commit" for a branch it holds no prepared transaction for. */
export type CommitAck = 'committed' | 'unknown';

/** How a coordinator reaches one participant (HTTP in production, a simulated network in property tests). */
export interface ParticipantClient {
  readonly name: string;
  /** Asks the participant to prepare its branch. Throws when no vote arrived (treated as NO). */
  prepare(gtid: string, coordinator: string, payload: unknown): Promise<Vote>;
  /** Idempotent. Resolves once the participant has committed (or had already). */
  commit(gtid: string): Promise<CommitAck>;
  /** Idempotent. Resolves once the participant holds nothing prepared for `gtid`. */
  abort(gtid: string): Promise<void>;
}

/**
 * The coordinator's durable decision log. `Tx` is the coordinator's own local transaction handle,
 * so the coordinator's own writes commit atomically with its COMMIT decision.
 */
export interface TwoPhaseCoordinatorLog<Tx> {
  /**
   * Records that a global transaction started (for inspection; presumed abort needs no durability here),
   * with the caller's correlation id when there is one. Throws GtidInUseError when the log already
   * holds `gtid`: a gtid is never run twice.
   */
  begin(gtid: string, participants: string[], correlationId?: string): Promise<void>;
  /**
   * Atomically records COMMIT — unless ABORT was already recorded — and runs `localWork` in the same local
   * transaction. Returns the decision in force afterwards. If `localWork` throws, nothing is recorded and
   * the error propagates (the caller then aborts).
   */
  decideCommit(
    gtid: string,
    branches: BranchRecord[],
    localWork?: (tx: Tx) => Promise<void>,
  ): Promise<Decision>;
  /** Records ABORT unless COMMIT is already recorded; returns the decision in force. Creates the record if absent. */
  decideAbort(gtid: string, reason: string, branches?: BranchRecord[]): Promise<Decision>;
  /** Phase two is acknowledged by every participant; the record leaves the unfinished set. */
  complete(gtid: string, decision: Decision, branches: BranchRecord[]): Promise<void>;
  /**
   * Notes a repeated phase-two or recovery step. With `retryAfterMs`, the record becomes claimable again
   * after that delay (a recovery pass that could not finish backs off instead of holding its full lease).
   */
  noteRetry(gtid: string, error: string, retryAfterMs?: number): Promise<void>;
  /**
   * Claims, under a lease so that several coordinator replicas never drive the same one at once,
   * unfinished transactions: decided ones whose phase two is not acknowledged, and ones still
   * `preparing` for longer than `staleAfterMs` (their coordinator died before deciding).
   */
  claimUnfinished(limit: number, leaseMs: number, staleAfterMs: number): Promise<GlobalTransactionRecord[]>;
  state(gtid: string): Promise<TwoPhaseState | undefined>;
}

/** A branch held by a participant as a prepared transaction. */
export interface InDoubtBranch {
  gtid: string;
  coordinator: string;
  preparedAt: Date;
}

/**
 * The participant's local resource: a database that can run work and hold it prepared. `Tx` is its
 * local transaction handle.
 */
export interface PreparedResource<Tx> {
  /**
   * Runs `work` in a new local transaction and prepares it under `gtid`. Idempotent: a branch already
   * prepared or committed votes YES again; a branch already aborted votes NO. A `work` error votes NO.
   */
  prepare(gtid: string, coordinator: string, work: (tx: Tx) => Promise<void>): Promise<Vote>;
  /**
   * Commits the prepared branch; 'committed' also when it was committed before, 'unknown' when it never
   * prepared. A branch is named by its coordinator and gtid together: two coordinators' gtids never meet.
   */
  commit(gtid: string, coordinator: string): Promise<CommitAck>;
  /** Rolls the prepared branch back if there is one, and remembers the abort so a late prepare votes NO. */
  abort(gtid: string, coordinator: string): Promise<void>;
  /** Branches prepared before `olderThan` and not yet resolved. */
  inDoubt(olderThan: Date): Promise<InDoubtBranch[]>;
}

/** How a participant asks a coordinator for the outcome of an in-doubt branch. */
export interface CoordinatorClient {
  outcome(coordinator: string, gtid: string): Promise<Decision>;
}
