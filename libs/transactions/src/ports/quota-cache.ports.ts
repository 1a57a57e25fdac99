/**
 * Ports of the quota-cached saga (paper 2). A participant lends part of a resource's capacity from its main
 * database to the cache (`QuotaStore`, Redis in production); a saga step reserves from the cache and its
 * compensation releases there, so no main-database row changes until the saga completes. The participant's
 * `QuotaLedger` (its main database) keeps what was lent, in which cache epoch, and applies completed
 * reservations exactly once.
 */

/** One reservation a completed saga made: what the participant's commit-sync consumer applies. */
export interface QuotaReservation {
  /** `<gtid>:<step>[:<i>]`: the saga step that made it, unique for good. */
  key: string;
  gtid: string;
  resource: string;
  units: number;
  /** The cache epoch the units were lent in (see `QuotaLevel.epoch`). */
  epoch: string;
}

/** What the cache holds for one resource. Undefined when it holds nothing (never lent, or data lost). */
export interface QuotaLevel {
  /**
   * Names the lending this cache state came from. A cache that lost its data comes back under a new
   * epoch; the ledger then knows every unit lent in the old one was lost with it.
   */
  epoch: string;
  /** Units free to reserve. */
  available: number;
  /** Units lent in this epoch and not yet settled or reclaimed: available + every live reservation. */
  lent: number;
  /** Live reservations (reserved or held). */
  reservations: number;
  /** When a reservation last took units (ms since the epoch): idle free units go back to the main database. */
  touched: number;
  /** Reclaims taken from the cache whose main-database side is still to be applied. */
  pendingReclaims: number;
}

export type ReserveAnswer =
  /** Reserved now, or earlier under the same key (then `units` is what that reservation holds). */
  | { outcome: 'reserved'; epoch: string; units: number }
  /** Not enough free units in the cache (it may be topped up from the main database). */
  | { outcome: 'insufficient'; available: number; epoch: string }
  /** The key was released, expired or settled: a late or repeated reservation is refused for good. */
  | { outcome: 'refused'; state: QuotaTombstone }
  /** The cache holds no quota for the resource: lend some first. */
  | { outcome: 'no-quota' };

/** Why a key is finished in the cache. */
export type QuotaTombstone = 'released' | 'expired' | 'settled';

export type ReleaseAnswer =
  | { outcome: 'released'; units: number }
  /** The key was already finished (released, expired or settled): nothing changed. */
  | { outcome: 'already'; state: QuotaTombstone }
  /** Nothing was reserved under the key: only the tombstone is left. */
  | { outcome: 'absent' };

export type LendAnswer = 'lent' | 'duplicate' | 'epoch-mismatch';

export interface ReserveRequest {
  resource: string;
  key: string;
  gtid: string;
  units: number;
  /** The reservation expires (its units return to the cache) at this time unless held first. */
  deadline: number;
  now: number;
}

/**
 * The quota cache. Every operation is atomic and touches one resource's keys only (so the cache can be
 * sharded by resource), and every one is idempotent: per reservation key, per lend or reclaim operation id.
 */
export interface QuotaStore {
  reserve(request: ReserveRequest): Promise<ReserveAnswer>;
  /**
   * Gives a reservation's units back and leaves a tombstone, so a reservation arriving later under the key
   * is refused. Without a reservation it only leaves the tombstone. `released` carries the units returned.
   */
  release(resource: string, key: string, now: number): Promise<ReleaseAnswer>;
  /** The saga is about to complete: the reservation no longer expires. Refused when it is gone. */
  hold(resource: string, key: string, now: number): Promise<'held' | 'absent' | QuotaTombstone>;
  /**
   * The main database applied the reservation: it leaves the cache, and its units leave the epoch's lent
   * total (they are now taken in the main database).
   */
  settle(resource: string, key: string, epoch: string, now: number): Promise<'settled' | 'absent'>;
  /** Returns the units of reservations not held by `now` to the cache; the keys expired. */
  expire(resource: string, now: number, limit: number): Promise<string[]>;
  /**
   * Adds units lent by the main database under epoch `epoch` (operation `opId`, applied once). `create`
   * starts the epoch when the cache holds nothing for the resource, or holds exactly the stale epoch
   * `replaces`; without it a cache that lost its data answers `epoch-mismatch`, as does one holding
   * another epoch.
   */
  lend(
    resource: string,
    epoch: string,
    opId: string,
    units: number,
    create: boolean,
    now: number,
    replaces?: string,
  ): Promise<LendAnswer>;
  /**
   * Takes up to `max` free units back for the main database (operation `opId`, applied once: a repeat
   * answers the same count). The count stays recorded until `forgetReclaim`, so a reclaim whose main-database
   * side was interrupted is found again by `pendingReclaims`.
   */
  reclaim(
    resource: string,
    epoch: string,
    opId: string,
    max: number,
    now: number,
  ): Promise<number | 'epoch-mismatch'>;
  pendingReclaims(resource: string): Promise<{ opId: string; units: number }[]>;
  forgetReclaim(resource: string, opId: string): Promise<void>;
  /** Held reservations (the saga completed or is completing), for settling those the main database applied. */
  held(resource: string, limit: number): Promise<{ key: string; epoch: string }[]>;
  level(resource: string): Promise<QuotaLevel | undefined>;
  levels(resources: readonly string[]): Promise<(QuotaLevel | undefined)[]>;
}

/**
 * Units of a resource to lend: up to `want`, and none at all when fewer than `need` (default 1) are
 * available (a reservation the lend could not satisfy anyway takes nothing from the main database).
 */
export interface LendAsk {
  resource: string;
  want: number;
  need?: number;
  /** The epoch the cache showed for the resource, if any. */
  cacheEpoch?: string;
}

/** A lending of units the main database recorded and the cache must still receive. */
export interface PendingLend {
  opId: string;
  resource: string;
  epoch: string;
  units: number;
  /** True when it starts its epoch (the cache held nothing for the resource, or a stale epoch). */
  create: boolean;
  /**
   * The epoch the cache showed that this main database does not count live — another deployment's keys
   * under the same prefix, a Redis restored from an old snapshot: its units are backed by nothing here,
   * and the create replaces it (only it, so a create that arrives late never wipes a newer epoch).
   */
  replaces?: string;
}

/**
 * The participant's main-database side. `S` is its local transaction handle: `applyCompleted` runs in the
 * commit-sync consumer's inbox transaction.
 */
export interface QuotaLedger<S> {
  /**
   * Lends up to `want` units of each resource from what its main database has available, under the
   * resource's live epoch (a new one when it has none), recorded pending: the caller hands each to the
   * cache, then `finishLend`. A resource whose live epoch the cache did not show (`cacheEpoch` differs)
   * lends nothing and comes back in `suspects`: the caller looks at the cache again and, if the epoch is
   * still missing there, the cache lost it (`markLost`). `waiting`: some resource's live epoch is being
   * created in the cache by another lend right now (ask again shortly).
   */
  lend(
    asks: readonly LendAsk[],
  ): Promise<{ lent: PendingLend[]; suspects: { resource: string; epoch: string }[]; waiting: boolean }>;
  /**
   * The cache lost the epoch's data: it is no longer live, and its outstanding units stay withheld until
   * `closeLostEpochs`. Only if it is still the live epoch.
   */
  markLost(resource: string, epoch: string): Promise<void>;
  /** The cache took the lend (or already had it): done. `epoch-mismatch`: the units come back. */
  finishLend(opIds: readonly string[], refused: readonly string[]): Promise<void>;
  /** Lends recorded longer than `olderThanMs` ago and never finished (the lender died in between). */
  pendingLends(olderThanMs: number, limit: number): Promise<PendingLend[]>;
  /** Units the cache gave back (`opId` applied once). */
  applyReclaim(opId: string, resource: string, epoch: string, units: number): Promise<void>;
  /**
   * Applies completed reservations in `tx`: each key once (a repeat changes nothing) moves its units from
   * lent to taken. Answers the keys applied now.
   */
  applyCompleted(tx: S, reservations: readonly QuotaReservation[]): Promise<string[]>;
  /** Which of these keys the main database has applied. */
  applied(keys: readonly string[]): Promise<Set<string>>;
  /** Resources with a live epoch (their caches are swept). */
  liveEpochs(): Promise<{ resource: string; epoch: string }[]>;
  /**
   * Gives back to the main database what lost epochs still withheld, once they were lost more than
   * `graceMs` ago (the completions of their sagas have had time to arrive). Answers how many epochs closed.
   */
  closeLostEpochs(graceMs: number): Promise<number>;
}

/** One reservation a quota-cached saga makes: `units` of `resource` at `participant`, key `<gtid>:<step>`. */
export interface QuotaSagaStep {
  participant: string;
  step: string;
  resource: string;
  units: number;
}

/** States of a quota-cached saga in its orchestrator's log: running → completed, or running → aborted. */
export type QuotaSagaState = 'running' | 'completed' | 'aborted';

export interface QuotaSagaRecord {
  gtid: string;
  /** The caller's own input (JSON), handed back to its hooks after a restart. */
  input: unknown;
  steps: QuotaSagaStep[];
  state: QuotaSagaState;
  correlationId?: string;
  reason?: string;
}

/** The right to finish one saga, as for the saga log: handed out by `begin` and by a claim. */
export interface QuotaSagaLease {
  gtid: string;
  token: string;
}

export class QuotaSagaLeaseLostError extends Error {
  constructor(readonly gtid: string) {
    super(`quota saga ${gtid} is no longer leased to this orchestrator`);
  }
}

/**
 * The quota-cached saga's log, in the orchestrator's database. Only two writes per saga: `begin` and
 * `finish`, each in one local transaction with the caller's own writes (`work`): nothing a running saga
 * did needs the log to be undone, since its reservations live in expiring caches.
 */
export interface QuotaSagaLog<S> {
  /** Records the saga `running`, leased to `owner`, in one transaction with `work` (the caller's draft). */
  begin(
    saga: Omit<QuotaSagaRecord, 'state' | 'reason'>,
    owner: string,
    leaseMs: number,
    work: (tx: S) => Promise<void>,
  ): Promise<QuotaSagaLease>;
  /**
   * From `running` only, fenced by the lease: the outcome with `work` (the caller's completion: its own
   * records and the completion events) in one transaction. `QuotaSagaLeaseLostError` when another
   * orchestrator claimed the saga or it is finished; then `work` did not commit.
   */
  finish(
    lease: QuotaSagaLease,
    outcome: 'completed' | 'aborted',
    reason: string | undefined,
    work: (tx: S) => Promise<void>,
  ): Promise<void>;
  /** Claims up to `limit` running sagas whose lease ran out (`FOR UPDATE SKIP LOCKED`), each under a new lease. */
  claimUnfinished(
    owner: string,
    limit: number,
    leaseMs: number,
  ): Promise<{ lease: QuotaSagaLease; saga: QuotaSagaRecord }[]>;
  get(gtid: string): Promise<QuotaSagaRecord | undefined>;
}
