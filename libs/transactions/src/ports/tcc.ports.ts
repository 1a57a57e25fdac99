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

/**
 * States of a global TCC transaction in its coordinator's log. trying → confirming → confirmed, or
 * trying → cancelling → cancelled. The decision (`confirming` or `cancelling`) is durable before the
 * first Confirm or Cancel is sent, and never changes afterwards.
 */
export type TccState = 'trying' | 'confirming' | 'cancelling' | 'confirmed' | 'cancelled';

/** One global TCC transaction as its log holds it. */
export interface TccRecord {
  gtid: string;
  /** The workflow that runs it (the coordinator must know it to resume). */
  workflow: string;
  /** The input as started (JSON); Try, Confirm and Cancel receive it again after a restart. */
  input: unknown;
  /** The participants' branch names, in the workflow's order. */
  branches: string[];
  state: TccState;
  correlationId?: string;
  /** Why it was cancelled (the failed branch's reason, or a coordinator that died while trying). */
  reason?: string;
  /** Runs that had to leave the transaction unfinished (a Confirm or Cancel that kept failing). */
  retries: number;
  lastError?: string;
  createdAt: Date;
  updatedAt: Date;
}

/** The right to write one transaction's log, as for the saga: handed out by `begin` and by a claim. */
export interface TccLease {
  gtid: string;
  token: string;
  leaseMs: number;
}

export interface NewTcc {
  gtid: string;
  workflow: string;
  input: unknown;
  branches: readonly string[];
  correlationId?: string;
}

/** A write under a lease that another coordinator replica took over (or on a finished transaction). */
export class TccLeaseLostError extends Error {
  constructor(readonly gtid: string) {
    super(`tcc transaction ${gtid} is no longer leased to this coordinator`);
  }
}

/**
 * The coordinator's log. Every write is durable before it resolves; every write but `begin` and
 * `claimUnfinished` is fenced by the lease, renews it, and throws `TccLeaseLostError` when the lease is
 * no longer the transaction's.
 */
export interface TccLog {
  /** Records a new transaction (`trying`) leased to `owner`; GtidInUseError when the gtid is known. */
  begin(tcc: NewTcc, owner: string, leaseMs: number): Promise<TccLease>;
  /** Renews the lease (before each round of calls): proves this coordinator still drives it. */
  renew(lease: TccLease): Promise<void>;
  /** The decision, from `trying` only: `confirming` (every Try succeeded) or `cancelling`, with why. */
  decide(lease: TccLease, decision: 'confirming' | 'cancelling', reason?: string): Promise<void>;
  /** Every branch confirmed (or cancelled): `confirmed` (or `cancelled`); the lease is released. */
  finish(lease: TccLease): Promise<void>;
  /** Gives it back unfinished, claimable `retryAfterMs` from now; counts a retry and keeps `error`. */
  release(lease: TccLease, error: string, retryAfterMs: number): Promise<void>;
  /**
   * Claims up to `limit` unfinished transactions whose lease ran out or was released, each under a new
   * lease for `owner`; never one another claim holds (`FOR UPDATE SKIP LOCKED` in PostgreSQL).
   */
  claimUnfinished(
    owner: string,
    limit: number,
    leaseMs: number,
  ): Promise<{ lease: TccLease; tcc: TccRecord }[]>;
  get(gtid: string): Promise<TccRecord | undefined>;
}
