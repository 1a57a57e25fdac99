import { isValidGtid } from '../core/gtid';
import { InvalidClaimError, UnsupportedResourceError } from './errors';

/** `<kind>:<id>`: `slot:<slotId>`, `imaging:CT:2026-12-07`, `drug:197361@ward-3a` (also a CHECK in SQL). */
export const RESOURCE_ID = /^[a-z]+:[A-Za-z0-9._:@-]{1,120}$/;
/** A claim key: `<gtid>:<step>` for the sagas, `<gtid>:<branch>` for TCC. */
export const CLAIM_KEY = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,159}$/;
/** A TCC branch (the participant's name in the workflow), as saga steps are named. */
export const BRANCH_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/** Units of one claim. */
export const MAX_CLAIM_UNITS = 10_000;
/** Units one resource may offer in all. */
export const MAX_CAPACITY = 100_000_000;

/** How a claim was made: a standard saga step, a quota-cached saga's completion, a TCC branch. */
export type ClaimMode = 'saga' | 'quota-saga' | 'tcc';
/** `applied`: taken for good; `held`: a TCC hold; `released`: given back, or a tombstone. */
export type ClaimState = 'applied' | 'held' | 'released';

/** One resource's level, as every reader of the participant's database sees it. */
export interface CapacityLevel {
  resource: string;
  /** Units offered in all. */
  capacity: number;
  /** Applied: committed consumption. */
  taken: number;
  /** Held by TCC Tries not yet confirmed or cancelled. */
  held: number;
  /** Lent to the quota cache. */
  lent: number;
  /** capacity − taken − held − lent, never below 0. */
  available: number;
}

/** One claim. A tombstone written before any apply (a release that came first) has no resource. */
export interface CapacityClaim {
  key: string;
  gtid: string;
  resource: string | null;
  units: number;
  mode: ClaimMode;
  state: ClaimState;
  createdAt: Date;
  updatedAt: Date;
}

/** A saga step's apply: `units` of `resource` under `key`, once. */
export interface SagaApplyRequest {
  key: string;
  gtid: string;
  resource: string;
  units: number;
}

/** A saga step's compensation. */
export interface SagaReleaseRequest {
  key: string;
  gtid: string;
}

/** A quota reservation the quota-cached saga completed: its units were lent to the cache and reserved there. */
export type QuotaClaim = SagaApplyRequest;

export interface TccTryRequest {
  gtid: string;
  branch: string;
  resource: string;
  units: number;
}

export interface TccBranchRequest {
  gtid: string;
  branch: string;
}

export interface SagaApplied {
  key: string;
  gtid: string;
  resource: string;
  units: number;
  state: 'applied';
}

export interface SagaReleased {
  key: string;
  gtid: string;
  state: 'released';
  /** Units given back by this release (the same on a repeat); 0 for a tombstone. */
  returned: number;
}

export interface TccHeld {
  gtid: string;
  branch: string;
  key: string;
  resource: string;
  units: number;
  state: 'held';
}

export interface TccSettled {
  gtid: string;
  branch: string;
  key: string;
  state: 'applied' | 'released';
  /** Units moved by this Confirm (held → taken) or Cancel (held → available); 0 for an empty rollback. */
  units: number;
}

/** What one batch of quota claims did: keys applied now, and keys applied before (unchanged). */
export interface QuotaClaimsApplied {
  applied: string[];
  duplicates: string[];
}

/**
 * The kinds of resource a participant offers, and the shape of each kind's id after `<kind>:`. A
 * participant that declares kinds refuses (400) ids of any other kind before touching its database.
 */
export interface CapacityKind {
  kind: string;
  /** The part after `<kind>:`, e.g. `/^[A-Z]{2}:\d{4}-\d{2}-\d{2}$/` for `imaging:CT:2026-12-07`. */
  id: RegExp;
  /** An example id (`imaging:CT:2026-12-07`), for documentation and refusals. */
  example: string;
}

/** The key of a TCC branch's claim. */
export function branchKey(gtid: string, branch: string): string {
  return `${gtid}:${branch}`;
}

const isWhole = (value: unknown, min: number, max: number): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;

export function assertResourceId(resource: unknown, kinds?: readonly CapacityKind[]): string {
  if (typeof resource !== 'string' || !RESOURCE_ID.test(resource))
    throw new InvalidClaimError('resource must be <kind>:<id> (letters, digits and . _ : @ -)', 'resource');
  if (kinds !== undefined) {
    const colon = resource.indexOf(':');
    const kind = kinds.find((k) => k.kind === resource.slice(0, colon));
    if (kind === undefined || !kind.id.test(resource.slice(colon + 1)))
      throw new UnsupportedResourceError(resource);
  }
  return resource;
}

export function assertUnits(units: unknown): number {
  if (!isWhole(units, 1, MAX_CLAIM_UNITS))
    throw new InvalidClaimError(`units must be a whole number from 1 to ${MAX_CLAIM_UNITS}`, 'units');
  return units;
}

/** Units lent to or given back by the quota cache in one call: up to a whole resource's capacity. */
export function assertLoan(units: unknown): number {
  if (!isWhole(units, 1, MAX_CAPACITY))
    throw new InvalidClaimError(`units must be a whole number from 1 to ${MAX_CAPACITY}`, 'units');
  return units;
}

export function assertCapacity(capacity: unknown): number {
  if (!isWhole(capacity, 0, MAX_CAPACITY))
    throw new InvalidClaimError(`capacity must be a whole number from 0 to ${MAX_CAPACITY}`, 'capacity');
  return capacity;
}

function assertGtid(gtid: unknown): string {
  if (!isValidGtid(gtid))
    throw new InvalidClaimError('gtid must be 1–64 letters, digits and . _ : -', 'gtid');
  return gtid;
}

function assertKey(key: unknown): string {
  if (typeof key !== 'string' || !CLAIM_KEY.test(key))
    throw new InvalidClaimError('key must be 1–160 letters, digits and . _ : @ / -', 'key');
  return key;
}

/** Checks a saga apply (or a quota claim); throws InvalidClaimError naming the first bad field. */
export function assertApply(request: SagaApplyRequest): void {
  assertKey(request.key);
  assertGtid(request.gtid);
  assertResourceId(request.resource);
  assertUnits(request.units);
}

export function assertRelease(request: SagaReleaseRequest): void {
  assertKey(request.key);
  assertGtid(request.gtid);
}

export function assertBranch(request: TccBranchRequest): void {
  assertGtid(request.gtid);
  if (typeof request.branch !== 'string' || !BRANCH_NAME.test(request.branch))
    throw new InvalidClaimError('branch must be 1–64 letters, digits and . _ : -', 'branch');
}

export function assertTry(request: TccTryRequest): void {
  assertBranch(request);
  assertResourceId(request.resource);
  assertUnits(request.units);
}

/**
 * A participant's reservable capacity, in its own database. `S` is the caller's local transaction (or, for
 * reads, any executor): every method runs its statements in it, so a caller may put a registration or a
 * batch of quota claims in the same transaction as its own writes (an inbox row, a slot).
 */
export interface CapacityLedger<S> {
  /** Creates the resource with `capacity` unless it exists (then nothing changes); true when it created it. */
  register(tx: S, resource: string, capacity: number): Promise<boolean>;
  /** Creates the resource or sets its capacity; CapacityInUseError below taken + held + lent. */
  setCapacity(tx: S, resource: string, capacity: number): Promise<{ level: CapacityLevel; created: boolean }>;
  get(tx: S, resource: string): Promise<CapacityLevel | undefined>;
  /** The claims of one global transaction, by key. */
  claims(tx: S, gtid: string): Promise<CapacityClaim[]>;
  sagaApply(tx: S, request: SagaApplyRequest): Promise<SagaApplied>;
  sagaRelease(tx: S, request: SagaReleaseRequest): Promise<SagaReleased>;
  tccTry(tx: S, request: TccTryRequest): Promise<TccHeld>;
  tccConfirm(tx: S, request: TccBranchRequest): Promise<TccSettled>;
  tccCancel(tx: S, request: TccBranchRequest): Promise<TccSettled>;
  /** Quota-cached saga completion: moves each new key's units from `lent` to `taken`, once per key. */
  applyQuotaClaims(tx: S, claims: readonly QuotaClaim[]): Promise<QuotaClaimsApplied>;
  /** Lends up to `units` available units to the quota cache; resolves with how many it lent (0…units). */
  lend(tx: S, resource: string, units: number): Promise<number>;
  /** Takes `units` lent units back from the quota cache (they become available again). */
  giveBack(tx: S, resource: string, units: number): Promise<void>;
}
