import type { ErrorCodeMappings, IssueType } from '@hospital/platform';

/** Every way a FHIR interaction can fail. Each code has exactly one HTTP status and one issue type. */
export enum FhirErrorCode {
  /** The body is not a valid FHIR R4 resource, or a request parameter is malformed. */
  Invalid = 'invalid',
  NotFound = 'not-found',
  /** The resource existed and was deleted. */
  Gone = 'gone',
  /** `If-Match` names a version that is not the current one. */
  PreconditionFailed = 'precondition-failed',
  UnknownSearchParameter = 'unknown-search-parameter',
  UnsupportedMediaType = 'unsupported-media-type',
  PayloadTooLarge = 'payload-too-large',
  /** A reference in the body points at a resource this service does not hold. */
  ReferenceNotFound = 'reference-not-found',
  /** The write collides with existing state (e.g. create with an id that is taken). */
  Conflict = 'conflict',
  /** The service does not offer this interaction on this resource type. */
  MethodNotAllowed = 'method-not-allowed',
  Unauthorized = 'unauthorized',
  Forbidden = 'forbidden',
  /** A dependency (database, participant) is unavailable; the client may retry. */
  Unavailable = 'unavailable',
  Internal = 'internal',
}

export type { IssueType };

/**
 * Each code's HTTP status, OperationOutcome issue type and message disposition. A `Record` over the enum:
 * a new code does not compile until it has all three.
 */
export const FHIR_ERRORS: ErrorCodeMappings<FhirErrorCode> = {
  [FhirErrorCode.Invalid]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [FhirErrorCode.NotFound]: { status: 404, issue: 'not-found', message: 'dead-letter' },
  [FhirErrorCode.Gone]: { status: 410, issue: 'deleted', message: 'dead-letter' },
  [FhirErrorCode.PreconditionFailed]: { status: 412, issue: 'conflict', message: 'dead-letter' },
  [FhirErrorCode.UnknownSearchParameter]: { status: 400, issue: 'not-supported', message: 'dead-letter' },
  [FhirErrorCode.UnsupportedMediaType]: { status: 415, issue: 'not-supported', message: 'dead-letter' },
  [FhirErrorCode.PayloadTooLarge]: { status: 413, issue: 'too-long', message: 'dead-letter' },
  [FhirErrorCode.ReferenceNotFound]: { status: 422, issue: 'not-found', message: 'dead-letter' },
  [FhirErrorCode.Conflict]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [FhirErrorCode.MethodNotAllowed]: { status: 405, issue: 'not-supported', message: 'dead-letter' },
  // A consumer holds no credentials of a client: an auth failure there is a configuration fault, retried.
  [FhirErrorCode.Unauthorized]: { status: 401, issue: 'login', message: 'retry' },
  [FhirErrorCode.Forbidden]: { status: 403, issue: 'forbidden', message: 'retry' },
  [FhirErrorCode.Unavailable]: { status: 503, issue: 'transient', message: 'retry' },
  [FhirErrorCode.Internal]: { status: 500, issue: 'exception', message: 'retry' },
};

/** The HTTP status for a code. */
export function fhirErrorStatus(code: FhirErrorCode): number {
  return FHIR_ERRORS[code].status;
}

/** The OperationOutcome issue type (http://hl7.org/fhir/issue-type) for a code. */
export function fhirErrorIssueType(code: FhirErrorCode): IssueType {
  return FHIR_ERRORS[code].issue;
}
