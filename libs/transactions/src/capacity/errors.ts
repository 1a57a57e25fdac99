import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way the capacity ledger refuses a call. */
export enum CapacityErrorCode {
  /** A resource id, key, gtid, branch or number that is not the documented shape. */
  InvalidClaim = 'invalid-claim',
  /** A resource id of a kind this participant does not offer. */
  UnsupportedResource = 'unsupported-resource',
  /** No resource has this id. */
  UnknownResource = 'unknown-resource',
  /** Fewer units available than asked (a business refusal: the saga compensates, the Try fails). */
  InsufficientCapacity = 'insufficient-capacity',
  /** The key was released (or its release came first): a late apply may not bring it back. */
  ClaimReleased = 'claim-released',
  /** The TCC branch was cancelled (or its Cancel came first): a late Try may not reserve. */
  BranchCancelled = 'branch-cancelled',
  /** A Confirm without a Try or after a Cancel, a Cancel after a Confirm: the protocol never sends it. */
  BranchSettled = 'branch-settled',
  /** The key is already claimed with another gtid, resource, units or mode. */
  ClaimMismatch = 'claim-mismatch',
  /** A capacity below what is taken, held and lent. */
  CapacityInUse = 'capacity-in-use',
  /** Quota claims applied for more units than were lent to the quota cache. */
  QuotaNotLent = 'quota-not-lent',
}

/**
 * Each code's transports. Refusals a caller must act on (no capacity, a tombstone) are 409 `conflict`, as
 * the saga and TCC clients expect: a business refusal, never retried. Nothing here can succeed on a retry,
 * so a message that fails with any of them is dead-lettered.
 */
export const CAPACITY_ERRORS: ErrorCodeMappings<CapacityErrorCode> = {
  [CapacityErrorCode.InvalidClaim]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [CapacityErrorCode.UnsupportedResource]: { status: 400, issue: 'not-supported', message: 'dead-letter' },
  [CapacityErrorCode.UnknownResource]: { status: 404, issue: 'not-found', message: 'dead-letter' },
  [CapacityErrorCode.InsufficientCapacity]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [CapacityErrorCode.ClaimReleased]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [CapacityErrorCode.BranchCancelled]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [CapacityErrorCode.BranchSettled]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [CapacityErrorCode.ClaimMismatch]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [CapacityErrorCode.CapacityInUse]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [CapacityErrorCode.QuotaNotLent]: { status: 409, issue: 'conflict', message: 'dead-letter' },
};

/** A refused capacity call; messages name resource ids, keys, gtids and numbers, never patient data. */
export class CapacityException extends DomainException<CapacityErrorCode> {
  constructor(code: CapacityErrorCode, message: string, expression: readonly string[] = []) {
    super('capacity', code, CAPACITY_ERRORS, message, { expression });
  }
}

export class InvalidClaimError extends CapacityException {
  constructor(message: string, field: string) {
    super(CapacityErrorCode.InvalidClaim, message, [field]);
  }
}

export class UnsupportedResourceError extends CapacityException {
  constructor(readonly resource: string) {
    super(CapacityErrorCode.UnsupportedResource, `resource ${resource} is not of a kind offered here`, [
      'resource',
    ]);
  }
}

export class UnknownResourceError extends CapacityException {
  constructor(readonly resource: string) {
    super(CapacityErrorCode.UnknownResource, `no capacity resource ${resource}`, ['resource']);
  }
}

export class InsufficientCapacityError extends CapacityException {
  constructor(
    readonly resource: string,
    readonly units: number,
  ) {
    super(CapacityErrorCode.InsufficientCapacity, `fewer than ${units} units of ${resource} available`, [
      'units',
    ]);
  }
}

export class ClaimReleasedError extends CapacityException {
  constructor(readonly key: string) {
    super(CapacityErrorCode.ClaimReleased, `claim ${key} was released; it cannot be applied again`, ['key']);
  }
}

export class BranchCancelledError extends CapacityException {
  constructor(
    readonly gtid: string,
    readonly branch: string,
  ) {
    super(CapacityErrorCode.BranchCancelled, `tcc branch ${gtid}/${branch} was cancelled`, ['branch']);
  }
}

export class BranchSettledError extends CapacityException {
  constructor(message: string) {
    super(CapacityErrorCode.BranchSettled, message, ['branch']);
  }
}

export class ClaimMismatchError extends CapacityException {
  constructor(
    readonly key: string,
    why: string,
  ) {
    super(CapacityErrorCode.ClaimMismatch, `claim ${key} exists ${why}`, ['key']);
  }
}

export class CapacityInUseError extends CapacityException {
  constructor(
    readonly resource: string,
    readonly inUse: number,
  ) {
    super(
      CapacityErrorCode.CapacityInUse,
      `capacity of ${resource} cannot go below the ${inUse} units taken, held and lent`,
      ['capacity'],
    );
  }
}

export class QuotaNotLentError extends CapacityException {
  constructor(readonly resource: string) {
    super(CapacityErrorCode.QuotaNotLent, `quota claims on ${resource} exceed the units lent to the cache`, [
      'units',
    ]);
  }
}
