import {
  LendAsk,
  PendingLend,
  QuotaLedger,
  QuotaReservation,
  QuotaStore,
  QuotaTombstone,
} from '../ports/quota-cache.ports';

export interface QuotaCacheOptions {
  /** A reservation not held within this long expires and its units return to the cache (default 60 s). */
  reservationTtlMs?: number;
  /** Units lent per top-up beyond what the reservation asks (default 100, capped by what is available). */
  lendChunk?: number;
  /** Free units untouched this long go back to the main database (default 2 min; 0 never). */
  idleReturnMs?: number;
  /** A lost epoch's withheld units go back to the main database this long after the loss (default 10 min). */
  lostGraceMs?: number;
  /** A lend the main database recorded but the cache did not confirm is driven again after this (default 5 s). */
  pendingLendAfterMs?: number;
  /** Most reservations a sweep expires or settles per resource (default 1000). */
  sweepLimit?: number;
  /** Milliseconds since the epoch (a test's virtual clock). */
  clock?: () => number;
}

export type QuotaReserveOutcome =
  | { outcome: 'reserved'; epoch: string; units: number }
  | { outcome: 'insufficient'; available: number }
  | { outcome: 'refused'; state: QuotaTombstone };

/** Units a lend put in the cache, and whether another lend was creating the epoch meanwhile. */
interface Lent {
  units: number;
  waiting: boolean;
}

/** Top-ups a reservation may ask for before it answers `insufficient`. */
const MAX_ROUNDS = 5;
/** How long a resource whose main database could not lend a need is not asked again for as much. */
const EXHAUSTED_MS = 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A reservation key reused with other units or on another resource: a caller bug, never a retry. */
export class QuotaKeyConflictError extends Error {
  constructor(readonly key: string) {
    super(`quota reservation ${key} already holds other units`);
  }
}

/**
 * The quota-cached saga's participant side (paper 2): reserve, release and hold in the cache, lend from
 * and return to the main database, apply completed reservations exactly once, and sweep (expiry,
 * interrupted lends and reclaims, settling, rebuilding a cache that lost its data). Framework-free: a
 * `QuotaStore` (Redis) and the participant's `QuotaLedger` (its main database).
 */
export class QuotaCache<S> {
  private readonly ttlMs: number;
  private readonly chunk: number;
  private readonly idleReturnMs: number;
  private readonly lostGraceMs: number;
  private readonly pendingLendAfterMs: number;
  private readonly sweepLimit: number;
  private readonly now: () => number;
  /** One top-up per resource at a time in this process: a burst of misses shares it. */
  private readonly topUps = new Map<string, Promise<Lent>>();
  /** Resources this process reserved, held or applied since the last sweep, or that still hold reservations. */
  private readonly active = new Set<string>();
  /** Resources whose main database had nothing to lend, until when: refusals then cost no transaction. */
  private readonly exhausted = new Map<string, { until: number; need: number }>();

  constructor(
    private readonly store: QuotaStore,
    private readonly ledger: QuotaLedger<S>,
    options: QuotaCacheOptions = {},
  ) {
    this.ttlMs = options.reservationTtlMs ?? 60_000;
    this.chunk = options.lendChunk ?? 100;
    this.idleReturnMs = options.idleReturnMs ?? 120_000;
    this.lostGraceMs = options.lostGraceMs ?? 600_000;
    this.pendingLendAfterMs = options.pendingLendAfterMs ?? 5_000;
    this.sweepLimit = options.sweepLimit ?? 1_000;
    this.now = options.clock ?? Date.now;
  }

  /**
   * Reserves `units` of `resource` under `key` (idempotent: a repeat answers the same reservation). When
   * the cache lacks units it tops up from the main database, and answers `insufficient` once the main
   * database has nothing more to lend.
   */
  async reserve(request: {
    key: string;
    gtid: string;
    resource: string;
    units: number;
  }): Promise<QuotaReserveOutcome> {
    this.active.add(request.resource);
    for (let round = 0; ; round++) {
      const now = this.now();
      const answer = await this.store.reserve({ ...request, now, deadline: now + this.ttlMs });
      if (answer.outcome === 'reserved') {
        if (answer.units !== request.units) throw new QuotaKeyConflictError(request.key);
        return answer;
      }
      if (answer.outcome === 'refused') return answer;
      const available = answer.outcome === 'insufficient' ? answer.available : 0;
      const need = request.units - available;
      const exhausted = this.exhausted.get(request.resource);
      if (
        round === MAX_ROUNDS ||
        (exhausted !== undefined && exhausted.until > now && need >= exhausted.need)
      )
        return { outcome: 'insufficient', available };
      const cacheEpoch = answer.outcome === 'insufficient' ? answer.epoch : undefined;
      const topped = await this.topUp(request.resource, need, cacheEpoch);
      if (topped.waiting) await sleep(5);
      else if (topped.units === 0) {
        this.exhausted.set(request.resource, { until: this.now() + EXHAUSTED_MS, need });
        return { outcome: 'insufficient', available };
      }
    }
  }

  /** Gives the reservation's units back to the cache (idempotent); later reservations of the key are refused. */
  release(resource: string, key: string) {
    return this.store.release(resource, key, this.now());
  }

  /** The saga is completing: the reservation stops expiring. `held` or why it cannot be (gone). */
  hold(resource: string, key: string) {
    this.active.add(resource);
    return this.store.hold(resource, key, this.now());
  }

  /** What the cache holds for the resource (undefined: nothing). */
  level(resource: string) {
    return this.store.level(resource);
  }

  /**
   * Lends quota for these resources ahead of demand (the paper's allocation): each gets up to `units`
   * more in the cache, as far as its main database has them available. Answers the units lent.
   */
  async allocate(resources: readonly string[], units: number): Promise<number> {
    const levels = await this.store.levels(resources);
    const lent = await this.lend(
      resources.map((resource, i) => ({ resource, want: units, cacheEpoch: levels[i]?.epoch })),
    );
    return lent.units;
  }

  /**
   * The commit-sync consumer's work, in its inbox transaction: completed reservations applied to the main
   * database, each key once. The cache is settled by `settleApplied` (a sweep) after the commit.
   */
  applyCompleted(tx: S, reservations: readonly QuotaReservation[]): Promise<string[]> {
    for (const r of reservations) this.active.add(r.resource);
    return this.ledger.applyCompleted(tx, reservations);
  }

  /** Removes from the cache reservations the main database applied (after the consumer's commit). */
  async settleApplied(
    reservations: readonly { key: string; resource: string; epoch: string }[],
  ): Promise<number> {
    const applied = await this.ledger.applied(reservations.map((r) => r.key));
    let settled = 0;
    for (const r of reservations) {
      if (!applied.has(r.key)) continue;
      if ((await this.store.settle(r.resource, r.key, r.epoch, this.now())) === 'settled') settled++;
    }
    return settled;
  }

  /**
   * One sweep: drives interrupted lends and reclaims, expires reservations whose saga never held them,
   * settles held reservations the main database applied, and — in a full sweep, over every resource the
   * main database lent — rebuilds a cache that lost its data, returns idle quota and closes epochs lost
   * long enough ago. A quick sweep looks only at resources this process touched since (and those still
   * holding reservations). Answers how much it did.
   */
  async sweep(full = true): Promise<number> {
    let done = await this.deliver(await this.ledger.pendingLends(this.pendingLendAfterMs, this.sweepLimit));
    const targets = full
      ? await this.ledger.liveEpochs()
      : [...this.active].map((resource) => ({ resource, epoch: undefined }));
    this.active.clear();
    const levels = await this.store.levels(targets.map((t) => t.resource));
    const rebuild: LendAsk[] = [];
    const held: { key: string; resource: string; epoch: string }[] = [];
    const now = this.now();
    for (const [i, { resource, epoch }] of targets.entries()) {
      const level = levels[i];
      if (level === undefined || (epoch !== undefined && level.epoch !== epoch)) {
        if (full) rebuild.push({ resource, want: this.chunk, cacheEpoch: level?.epoch });
        continue;
      }
      // A resource with nothing reserved, nothing to return and no reclaim under way costs no call.
      if (level.reservations > 0) {
        done += (await this.store.expire(resource, now, this.sweepLimit)).length;
        for (const h of await this.store.held(resource, this.sweepLimit)) held.push({ ...h, resource });
        this.active.add(resource);
      }
      if (!full) continue;
      const idle = this.idleReturnMs > 0 && level.available > 0 && now - level.touched >= this.idleReturnMs;
      if (idle)
        await this.store.reclaim(
          resource,
          level.epoch,
          `reclaim:${level.epoch}:${now}`,
          level.available,
          now,
        );
      if (!idle && level.pendingReclaims === 0) continue;
      for (const { opId, units } of await this.store.pendingReclaims(resource)) {
        await this.ledger.applyReclaim(opId, resource, level.epoch, units);
        await this.store.forgetReclaim(resource, opId);
        done++;
      }
    }
    done += await this.settleApplied(held);
    if (!full) return done;
    if (rebuild.length > 0) done += (await this.lend(rebuild)).units;
    return done + (await this.ledger.closeLostEpochs(this.lostGraceMs));
  }

  /**
   * Tops up one resource by at least `need` units (or nothing); concurrent misses in this process share
   * one top-up.
   */
  private topUp(resource: string, need: number, cacheEpoch: string | undefined): Promise<Lent> {
    let running = this.topUps.get(resource);
    if (!running) {
      running = this.lend([{ resource, want: Math.max(need, this.chunk), need, cacheEpoch }]).finally(() =>
        this.topUps.delete(resource),
      );
      this.topUps.set(resource, running);
    }
    return running;
  }

  /**
   * Lends from the main database and hands the units to the cache. A suspect epoch (live in the main
   * database, not shown by the cache) is looked up again now — after the main database saw its creation
   * confirmed — and marked lost only if the cache still lacks it; then the lend is asked again.
   */
  private async lend(asks: readonly LendAsk[]): Promise<Lent> {
    const { lent, suspects, waiting } = await this.ledger.lend(asks);
    let units = await this.deliver(lent);
    if (suspects.length === 0) return { units, waiting };
    const levels = await this.store.levels(suspects.map((s) => s.resource));
    const again: LendAsk[] = [];
    for (const [i, suspect] of suspects.entries()) {
      const cacheEpoch = levels[i]?.epoch;
      if (cacheEpoch !== suspect.epoch) await this.ledger.markLost(suspect.resource, suspect.epoch);
      const ask = asks.find((a) => a.resource === suspect.resource);
      again.push({ resource: suspect.resource, want: ask?.want ?? this.chunk, need: ask?.need, cacheEpoch });
    }
    const retried = await this.ledger.lend(again);
    units += await this.deliver(retried.lent);
    return { units, waiting: waiting || retried.waiting };
  }

  /** Hands recorded lends to the cache and records the outcome; answers the units the cache took. */
  private async deliver(pending: readonly PendingLend[]): Promise<number> {
    if (pending.length === 0) return 0;
    const now = this.now();
    const answers = await Promise.all(
      pending.map((p) => this.store.lend(p.resource, p.epoch, p.opId, p.units, p.create, now, p.replaces)),
    );
    const refused = pending.filter((_, i) => answers[i] === 'epoch-mismatch').map((p) => p.opId);
    await this.ledger.finishLend(
      pending.map((p) => p.opId),
      refused,
    );
    return pending.reduce((sum, p, i) => sum + (answers[i] === 'lent' ? p.units : 0), 0);
  }
}
