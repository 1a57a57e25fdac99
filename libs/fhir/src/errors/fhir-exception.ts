import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { DomainException } from '@hospital/platform';
import { FHIR_ERRORS, FhirErrorCode, IssueType, fhirErrorIssueType } from './fhir-error-code';

export type IssueSeverity = OperationOutcomeIssue['severity'];

export interface OperationOutcomeIssueInput {
  severity?: IssueSeverity;
  code: IssueType;
  diagnostics?: string;
  expression?: string[];
  details?: string;
}

/** Builds an OperationOutcome from one or more issues (severity defaults to `error`). */
export function operationOutcome(...issues: OperationOutcomeIssueInput[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((input) => {
      const issue: OperationOutcomeIssue = { severity: input.severity ?? 'error', code: input.code };
      if (input.details !== undefined) issue.details = { text: input.details };
      if (input.diagnostics !== undefined) issue.diagnostics = input.diagnostics;
      if (input.expression !== undefined && input.expression.length > 0)
        issue.expression = [...input.expression];
      return issue;
    }),
  };
}

/** An `information` outcome, e.g. the body of a successful delete. */
export function informationOutcome(diagnostics: string): OperationOutcome {
  return operationOutcome({ severity: 'information', code: 'informational', diagnostics });
}

export interface FhirExceptionOptions {
  /** FHIRPath expressions of the offending elements (never their values). */
  expression?: string[];
  /** Issues to report instead of the single issue built from the message (e.g. validator issues). */
  issues?: OperationOutcomeIssue[];
  cause?: unknown;
}

/**
 * A domain error of the FHIR layer (module `fhir`). The message becomes the issue's diagnostics, so it must
 * never hold patient data (values from a body or a query); resource types, ids, paths and codes are fine.
 */
export class FhirException extends DomainException<FhirErrorCode> {
  readonly outcome: OperationOutcome;

  constructor(code: FhirErrorCode, message: string, options: FhirExceptionOptions = {}) {
    super('fhir', code, FHIR_ERRORS, message, { expression: options.expression, cause: options.cause });
    this.outcome =
      options.issues !== undefined && options.issues.length > 0
        ? { resourceType: 'OperationOutcome', issue: options.issues }
        : operationOutcome({
            code: fhirErrorIssueType(code),
            diagnostics: message,
            expression: options.expression,
          });
  }

  static invalid(message: string, expression?: string[]): FhirException {
    return new FhirException(FhirErrorCode.Invalid, message, { expression });
  }

  static notFound(resourceType: string, id?: string): FhirException {
    return new FhirException(
      FhirErrorCode.NotFound,
      id === undefined ? `Unknown resource type ${resourceType}` : `${resourceType}/${id} not found`,
    );
  }

  static gone(resourceType: string, id: string): FhirException {
    return new FhirException(FhirErrorCode.Gone, `${resourceType}/${id} has been deleted`);
  }

  static methodNotAllowed(interaction: string, resourceType?: string): FhirException {
    return new FhirException(
      FhirErrorCode.MethodNotAllowed,
      resourceType === undefined
        ? `This service does not support the ${interaction} interaction`
        : `This service does not support ${interaction} on ${resourceType}`,
    );
  }
}

export function isFhirException(error: unknown): error is FhirException {
  return error instanceof FhirException;
}
