/**
 * Ports of TCC (Try / Confirm / Cancel). The participant barrier lives in each participant's own database
 * and is written in the same local transaction as the participant's business write; the coordinator's log
 * lives in the coordinating service's database.
 */

/** One branch of a global transaction: the gtid and the participant's branch name. */
export interface TccBranchKey {
  gtid: string;
  branch: string;
}

/** The three operations the barrier records per branch. */
export type TccBarrierOp = 'try' | 'confirm' | 'cancel';

/**
 * What the barrier did with a call. `ran`: the work ran (and commits with the barrier row). Otherwise the
 * work did not run and `skipped` says why:
 * - `duplicate` — the same operation was already recorded for the branch (a retried or duplicated call);
 * - `cancelled` — a Try that arrived after its Cancel (anti-hanging: refused, nothing reserved);
 * - `empty-rollback` — a Cancel without a Try before it: recorded, so a late Try is refused, nothing undone.
 */
export type TccBarrierResult<T> = { ran: true; value: T } | { ran: false; skipped: TccBarrierSkip };
export type TccBarrierSkip = 'duplicate' | 'cancelled' | 'empty-rollback';

/**
 * A call the protocol never makes: a Confirm without a Try (or after a Cancel), a Cancel after a Confirm.
 * The barrier refuses it and writes nothing; the caller's local transaction rolls back.
 */
export class TccBarrierViolationError extends Error {
  constructor(
    readonly key: TccBranchKey,
    readonly op: TccBarrierOp,
    readonly why: string,
  ) {
    super(`tcc branch ${key.gtid}/${key.branch}: ${op} refused (${why})`);
  }
}

/**
 * The participant barrier. `S` is the participant's local transaction handle: every method writes the
 * barrier row in `tx` and runs `work` in the same `tx`, so the row and the business write commit or roll
 * back together. An error thrown by `work` (a business refusal) propagates unchanged and, since the
 * transaction rolls back, leaves no barrier row: the barrier never swallows a business error.
 */
export interface TccBarrier<S> {
  /** Runs `work` once per branch, and never after the branch's Cancel (then `skipped: 'cancelled'`). */
  try<T>(tx: S, key: TccBranchKey, work: (tx: S) => Promise<T>): Promise<TccBarrierResult<T>>;
  /** Runs `work` once per branch, only after its Try; throws TccBarrierViolationError otherwise. */
  confirm<T>(tx: S, key: TccBranchKey, work: (tx: S) => Promise<T>): Promise<TccBarrierResult<T>>;
  /**
   * Runs `work` once per branch if its Try happened; without a Try, records the Cancel and runs nothing
   * (`skipped: 'empty-rollback'`), so a Try arriving later is refused. Throws TccBarrierViolationError
   * after a Confirm.
   */
  cancel<T>(tx: S, key: TccBranchKey, work: (tx: S) => Promise<T>): Promise<TccBarrierResult<T>>;
}
