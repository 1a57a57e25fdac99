import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way the service refuses a CarePlan, or answers one it could not finish. */
export enum PlanErrorCode {
  /** `_mode` / `x-transaction-mode` is not saga, quota-saga or tcc, or the two disagree. */
  UnknownMode = 'unknown-mode',
  /** A plan is created `draft` or `active` (the service sets its status), with intent `plan`. */
  UnsupportedStatus = 'unsupported-status',
  /** `subject` must reference the patient: `Patient/<id>`. */
  SubjectRequired = 'subject-required',
  /** `careTeam` must be exactly one `CareTeam/<id>`. */
  CareTeamRequired = 'care-team-required',
  /** At least one activity, each with a `detail` of a kind the plan books. */
  ActivityRequired = 'activity-required',
  /** An activity of another kind, one given by reference, or a second imaging or regimen activity. */
  UnsupportedActivity = 'unsupported-activity',
  /** An activity without what its booking needs (slot and performer, modality and day, drug, location, quantity). */
  ActivityIncomplete = 'activity-incomplete',
  /** A quantity that is not a whole number from 1 to 10000. */
  ImpossibleQuantity = 'impossible-quantity',
  /** Two consults on one slot. */
  DuplicateSlot = 'duplicate-slot',
  /** The care team named does not exist here. */
  UnknownCareTeam = 'unknown-care-team',
  /** The care team is another patient's. */
  CareTeamMismatch = 'care-team-mismatch',
  /** A consult's performer is not a member of the care team. */
  PerformerNotMember = 'performer-not-member',
  /** A slot, an imaging day of a modality or a drug at a location that its participant does not offer. */
  UnknownResource = 'unknown-resource',
  /** A participant could not be asked whether a resource exists: nothing was reserved, try again. */
  ParticipantUnavailable = 'participant-unavailable',
  /** A participant refused a step (no capacity, out of stock): the plan was revoked, nothing stays reserved. */
  PlanRefused = 'plan-refused',
  /** The plan's transaction was left to recovery (its log failed or it was taken over); it will settle. */
  PlanUnsettled = 'plan-unsettled',
}

/**
 * Each code's transports: a malformed plan is a 400; a well-formed one naming what does not exist or does
 * not fit (a care team, a member, a slot, a drug) a 422; a participant's business refusal a 409 (the plan
 * is revoked and readable); a plan that could not be checked or settled now a 503.
 */
export const PLAN_ERRORS: ErrorCodeMappings<PlanErrorCode> = {
  [PlanErrorCode.UnknownMode]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [PlanErrorCode.UnsupportedStatus]: { status: 400, issue: 'not-supported', message: 'dead-letter' },
  [PlanErrorCode.SubjectRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [PlanErrorCode.CareTeamRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [PlanErrorCode.ActivityRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [PlanErrorCode.UnsupportedActivity]: { status: 400, issue: 'not-supported', message: 'dead-letter' },
  [PlanErrorCode.ActivityIncomplete]: { status: 400, issue: 'required', message: 'dead-letter' },
  [PlanErrorCode.ImpossibleQuantity]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [PlanErrorCode.DuplicateSlot]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [PlanErrorCode.UnknownCareTeam]: { status: 422, issue: 'not-found', message: 'dead-letter' },
  [PlanErrorCode.CareTeamMismatch]: { status: 422, issue: 'business-rule', message: 'dead-letter' },
  [PlanErrorCode.PerformerNotMember]: { status: 422, issue: 'business-rule', message: 'dead-letter' },
  [PlanErrorCode.UnknownResource]: { status: 422, issue: 'not-found', message: 'dead-letter' },
  [PlanErrorCode.ParticipantUnavailable]: { status: 503, issue: 'transient', message: 'retry' },
  [PlanErrorCode.PlanRefused]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [PlanErrorCode.PlanUnsettled]: { status: 503, issue: 'transient', message: 'retry' },
};

/** A refused or unfinished plan; messages name elements, ids, steps and codes, never the patient. */
export class PlanException extends DomainException<PlanErrorCode> {
  constructor(code: PlanErrorCode, message: string, expression: readonly string[] = [], cause?: unknown) {
    super('care-plans', code, PLAN_ERRORS, message, { expression, cause });
  }
}
