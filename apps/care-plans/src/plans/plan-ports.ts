import type {
  NewOutboxEvent,
  SagaApplyRequest,
  SagaReleaseRequest,
  TccBranchRequest,
  TccTryRequest,
} from '@hospital/transactions';
import type { Participant, PlanInput } from './treatment-plan';

/**
 * The plan's own record in this service's database, written by the plan's step of every mode. The plan
 * row is the step's barrier: it is created as a draft once per gtid, activated once, and revoked once; a
 * revocation that comes first leaves a revoked plan behind, so a late draft is refused.
 */
export interface PlanLedgerPort {
  /** Records the plan as a draft under `gtid` (nothing when it is already recorded); PlanRevokedError if revoked. */
  recordDraft(input: PlanInput, gtid: string): Promise<void>;
  /** Makes the draft active, with `events` appended to the outbox in the same local transaction; once. */
  activate(input: PlanInput, gtid: string, events: readonly NewOutboxEvent[]): Promise<void>;
  /** Revokes the plan with `reason` (a revoked plan is recorded when it never was); throws when it is active. */
  revoke(input: PlanInput, gtid: string, reason: string | undefined): Promise<void>;
  /** Throws when the plan is active: an activation is never undone once it committed. */
  assertNotActive(input: PlanInput, gtid: string): Promise<void>;
}

/**
 * A saga step's claim at a participant: `units` of `resource` under `key` (`<gtid>:<step>[:<i>]`); the
 * capacity contract's body of `/saga/apply` and `/quota/reserve`.
 */
export type ClaimRequest = SagaApplyRequest;

/** A TCC branch of a plan at a participant (the body of `/tcc/confirm` and `/tcc/cancel`). */
export type BranchRequest = TccBranchRequest;

/** A quota reservation named by its key (sent as `{ key, resource }`; the gtid travels in `x-gtid`). */
export interface QuotaKeyRequest {
  key: string;
  gtid: string;
  resource: string;
}

/** A quota reservation as the participant's cache made it (`epoch`: the lending it came from). */
export interface QuotaReservation {
  key: string;
  resource: string;
  units: number;
  epoch: string;
}

/**
 * The participants' capacity endpoints (`/api/capacity`, the capacity contract). Every call may be
 * repeated: the participants make each idempotent by its key or branch. A business refusal (a 4xx: no
 * capacity, a released key, a cancelled branch) rejects with ParticipantRefusedError; anything else (5xx,
 * no answer) is transient.
 */
export interface CapacityPort {
  sagaApply(participant: Participant, request: ClaimRequest): Promise<void>;
  sagaRelease(participant: Participant, request: SagaReleaseRequest): Promise<void>;
  quotaReserve(participant: Participant, request: ClaimRequest): Promise<QuotaReservation>;
  quotaRelease(participant: Participant, request: QuotaKeyRequest): Promise<void>;
  quotaHold(participant: Participant, request: QuotaKeyRequest): Promise<void>;
  tccTry(participant: Participant, request: TccTryRequest): Promise<void>;
  tccConfirm(participant: Participant, request: BranchRequest): Promise<void>;
  tccCancel(participant: Participant, request: BranchRequest): Promise<void>;
}

/** A participant's business refusal of a call (its 4xx answer). */
export class ParticipantRefusedError extends Error {
  constructor(
    readonly participant: Participant,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A plan step that arrived after the plan was revoked (a late action of a replica that lost its lease). */
export class PlanRevokedError extends Error {
  constructor(readonly planId: string) {
    super(`CarePlan/${planId} was revoked before its draft was recorded`);
  }
}

/** Why a plan's transaction turned to compensation or cancellation, as its log holds it. */
export type RevocationReasons = (gtid: string) => Promise<string | undefined>;
