import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

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

export type IssueType = NonNullable<OperationOutcomeIssue['code']>;

/** The HTTP status for a code. Exhaustive: a new code does not compile until it has a status. */
export function fhirErrorStatus(code: FhirErrorCode): number {
  switch (code) {
    case FhirErrorCode.Invalid:
      return 400;
    case FhirErrorCode.NotFound:
      return 404;
    case FhirErrorCode.Gone:
      return 410;
    case FhirErrorCode.PreconditionFailed:
      return 412;
    case FhirErrorCode.UnknownSearchParameter:
      return 400;
    case FhirErrorCode.UnsupportedMediaType:
      return 415;
    case FhirErrorCode.PayloadTooLarge:
      return 413;
    case FhirErrorCode.ReferenceNotFound:
      return 422;
    case FhirErrorCode.Conflict:
      return 409;
    case FhirErrorCode.MethodNotAllowed:
      return 405;
    case FhirErrorCode.Unauthorized:
      return 401;
    case FhirErrorCode.Forbidden:
      return 403;
    case FhirErrorCode.Unavailable:
      return 503;
    case FhirErrorCode.Internal:
      return 500;
  }
}

/** The OperationOutcome issue type (http://hl7.org/fhir/issue-type) for a code. */
export function fhirErrorIssueType(code: FhirErrorCode): IssueType {
  switch (code) {
    case FhirErrorCode.Invalid:
      return 'invalid';
    case FhirErrorCode.NotFound:
      return 'not-found';
    case FhirErrorCode.Gone:
      return 'deleted';
    case FhirErrorCode.PreconditionFailed:
      return 'conflict';
    case FhirErrorCode.UnknownSearchParameter:
      return 'not-supported';
    case FhirErrorCode.UnsupportedMediaType:
      return 'not-supported';
    case FhirErrorCode.PayloadTooLarge:
      return 'too-long';
    case FhirErrorCode.ReferenceNotFound:
      return 'not-found';
    case FhirErrorCode.Conflict:
      return 'conflict';
    case FhirErrorCode.MethodNotAllowed:
      return 'not-supported';
    case FhirErrorCode.Unauthorized:
      return 'login';
    case FhirErrorCode.Forbidden:
      return 'forbidden';
    case FhirErrorCode.Unavailable:
      return 'transient';
    case FhirErrorCode.Internal:
      return 'exception';
  }
}
