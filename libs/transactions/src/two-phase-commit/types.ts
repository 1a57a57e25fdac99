import type { Decision } from '../ports/two-phase-commit.ports';
export type { CommitAck, Decision, TwoPhaseState, Vote } from '../ports/two-phase-commit.ports';

/** What a coordinator asks one participant to do in a global transaction. */
export interface Branch<P = unknown> {
  participant: string;
  payload: P;
}

export type TwoPhaseResult =
  | {
      gtid: string;
      outcome: 'committed';
      /** false when some participant still owes an acknowledgement (recovery finishes it). */ acknowledged: boolean;
    }
  | { gtid: string; outcome: 'aborted'; reasons: string[] };

/** Raised to the caller when a global transaction aborted; carries the participants' reasons. */
export class TransactionAbortedError extends Error {
  constructor(
    readonly gtid: string,
    readonly reasons: string[],
    override readonly cause?: unknown,
  ) {
    super(`global transaction ${gtid} aborted: ${reasons.join('; ') || 'no reason given'}`);
  }
}

/**
 * Raised when the coordinator cannot tell whether its decision was recorded (its log failed while
 * deciding). The transaction is resolved by recovery; the caller must not assume either outcome.
 */
export class OutcomeUnknownError extends Error {
  constructor(
    readonly gtid: string,
    override readonly cause?: unknown,
  ) {
    super(`outcome of global transaction ${gtid} is not known yet; recovery will settle it`);
  }
}

/**
 * Raised by `begin` when the coordinator's log already holds the gtid: a gtid names one global
 * transaction for good, so running it again could only answer with another run's outcome.
 */
export class GtidInUseError extends Error {
  constructor(readonly gtid: string) {
    super(`global transaction id ${gtid} is already in use`);
  }
}

/**
 * How an operator's resolution of an in-doubt transaction was settled: the decision applied, and whether
 * it was heuristic (taken without the coordinator's word, so it may contradict the global outcome).
 */
export interface InDoubtVerdict {
  gtid: string;
  decision: Decision;
  heuristic: boolean;
  /** Why the coordinator's word was not available, for a heuristic verdict. */
  coordinatorError?: string;
}

/** An operator asked for a decision that the durable outcome contradicts; nothing was changed. */
export class ResolutionConflictError extends Error {
  constructor(
    readonly gtid: string,
    message: string,
  ) {
    super(message);
  }
}

/** An operator asked to resolve a transaction that is not in doubt here (finished, or never seen). */
export class NotInDoubtError extends Error {
  constructor(
    readonly gtid: string,
    message = `global transaction ${gtid} is not in doubt here`,
  ) {
    super(message);
  }
}
