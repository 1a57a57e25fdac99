import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way the service refuses a CareTeam. */
export enum CareTeamErrorCode {
  /** `subject` must reference the patient: `Patient/<id>`. */
  SubjectRequired = 'subject-required',
  /** At least one participant, each `member` a `Practitioner/<id>`. */
  MemberRequired = 'member-required',
  /** The EMR has no such patient. */
  UnknownPatient = 'unknown-patient',
  /** The EMR has no such practitioner. */
  UnknownPractitioner = 'unknown-practitioner',
  /** The EMR could not be asked: nothing was stored, try again. */
  EmrUnavailable = 'emr-unavailable',
}

/** Malformed teams are a 400, teams naming people the EMR does not know a 422, an EMR out of reach a 503. */
export const CARE_TEAM_ERRORS: ErrorCodeMappings<CareTeamErrorCode> = {
  [CareTeamErrorCode.SubjectRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [CareTeamErrorCode.MemberRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [CareTeamErrorCode.UnknownPatient]: { status: 422, issue: 'not-found', message: 'dead-letter' },
  [CareTeamErrorCode.UnknownPractitioner]: { status: 422, issue: 'not-found', message: 'dead-letter' },
  [CareTeamErrorCode.EmrUnavailable]: { status: 503, issue: 'transient', message: 'retry' },
};

/** A refused CareTeam; messages name elements and ids, never the patient's data. */
export class CareTeamException extends DomainException<CareTeamErrorCode> {
  constructor(code: CareTeamErrorCode, message: string, expression: readonly string[] = [], cause?: unknown) {
    super('care-teams', code, CARE_TEAM_ERRORS, message, { expression, cause });
  }
}
