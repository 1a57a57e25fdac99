import { BranchRecord, GlobalTransactionRecord } from './global-transaction';
import { CommitAck, Decision, Vote } from './two-phase-commit.ports';

/**
 * States of a 3PC transaction in the coordinator's log: preparing → precommitting → committing →
 * committed, or → aborting → aborted from preparing or precommitting. `precommitting` is durable before
 * the first PreCommit leaves: recovery then knows whether any participant may have been pre-committed.
 */
export type ThreePhaseState =
  'preparing' | 'precommitting' | 'committing' | 'committed' | 'aborting' | 'aborted';

/**
 * A participant's answer to PreCommit: `precommitted` (durable: it will commit even without the
 * coordinator), `committed` (it already did), or `aborted` (it gave up first; it never will commit).
 */
export type PreCommitAck = 'precommitted' | 'committed' | 'aborted';

/**
 * How a coordinator — or a participant terminating without it — reaches one participant. The branch is
 * always named by the coordinator that started it and the gtid.
 */
export interface ThreePhaseParticipantClient {
  readonly name: string;
  /** CanCommit: the participant prepares its branch and votes. Throws when no vote arrived (treated as NO). */
  canCommit(gtid: string, coordinator: string, payload: unknown): Promise<Vote>;
  /** PreCommit (idempotent): `peers` are every participant of the transaction, for its termination. */
  preCommit(gtid: string, coordinator: string, peers: string[]): Promise<PreCommitAck>;
  /** DoCommit (idempotent). */
  doCommit(gtid: string, coordinator: string): Promise<CommitAck>;
  /** Idempotent. Resolves once the participant holds nothing prepared for the branch. */
  abort(gtid: string, coordinator: string): Promise<void>;
}

/** The coordinator's durable log of 3PC transactions. */
export interface ThreePhaseCoordinatorLog {
  /** Records the start (bookkeeping). Throws GtidInUseError when the log already holds `gtid`. */
  begin(gtid: string, participants: string[], correlationId?: string): Promise<void>;
  /**
   * preparing → precommitting, durably, before any PreCommit is sent. Answers the decision in force:
   * `commit` when precommitting was recorded now (or before), `abort` when an abort was recorded first.
   */
  precommit(gtid: string, branches: BranchRecord[]): Promise<Decision>;
  /**
   * precommitting → committing: every participant answered PreCommit. Bookkeeping: a coordinator that
   * dies before it lands re-drives PreCommit and learns the same.
   */
  decideCommit(gtid: string, branches: BranchRecord[]): Promise<void>;
  /**
   * Records ABORT over `preparing` — and over `precommitting` only with `overPrecommit` (a participant
   * answered that it aborted, so no branch can ever commit). Creates the record if absent. Answers the
   * state in force afterwards.
   */
  decideAbort(
    gtid: string,
    reason: string,
    options?: { branches?: BranchRecord[]; overPrecommit?: boolean },
  ): Promise<ThreePhaseState>;
  complete(gtid: string, decision: Decision, branches: BranchRecord[]): Promise<void>;
  noteRetry(gtid: string, error: string, retryAfterMs?: number): Promise<void>;
  /** Claims unfinished transactions under a lease (stale `preparing` ones only after `staleAfterMs`). */
  claimUnfinished(limit: number, leaseMs: number, staleAfterMs: number): Promise<GlobalTransactionRecord[]>;
  state(gtid: string): Promise<ThreePhaseState | undefined>;
}

/** Where a participant's branch stands between its vote and its end. */
export type BranchPhase = 'uncertain' | 'precommitted' | 'aborted';

/** A branch whose time-out ran out (or that was left half-aborted by a crash). */
export interface TimedOutBranch {
  gtid: string;
  coordinator: string;
  phase: BranchPhase;
  /** The transaction's participants, as PreCommit named them (empty while uncertain). */
  peers: string[];
}

/**
 * The participant's durable 3PC state beside its prepared branches: a branch is `uncertain` from its YES
 * vote until PreCommit or an abort is recorded. Recording PreCommit and recording an abort race on one
 * row: whichever lands first is the branch's phase, so a branch never is both.
 */
export interface ThreePhaseStateStore {
  /**
   * Records PreCommit for a prepared branch. `not-prepared`: nothing is prepared or settled under that
   * name (the vote never arrived); the caller aborts it.
   */
  precommit(gtid: string, coordinator: string, peers: string[]): Promise<PreCommitAck | 'not-prepared'>;
  /**
   * Records the abort; over a recorded PreCommit only with `overPrecommit` (the coordinator's word, or a
   * peer known aborted). Answers the phase in force afterwards.
   */
  markAborted(gtid: string, coordinator: string, overPrecommit: boolean): Promise<'aborted' | 'precommitted'>;
  phase(gtid: string, coordinator: string): Promise<BranchPhase | undefined>;
  /**
   * Prepared branches uncertain for longer than `uncertainAfterMs`, pre-committed for longer than
   * `precommittedAfterMs`, and aborted ones still prepared.
   */
  timedOut(uncertainAfterMs: number, precommittedAfterMs: number, limit: number): Promise<TimedOutBranch[]>;
}
