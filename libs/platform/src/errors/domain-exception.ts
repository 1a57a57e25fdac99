import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

/** An OperationOutcome issue type (http://hl7.org/fhir/issue-type). */
export type IssueType = NonNullable<OperationOutcomeIssue['code']>;

/**
 * What a message consumer does with a message whose handler failed with the error: `retry` for a transient
 * failure (redelivered, dead-lettered only after the consumer's bounded attempts), `dead-letter` for a
 * message that can never apply (dead-lettered at once, with the code as the reason).
 */
export type MessageDisposition = 'retry' | 'dead-letter';

/** How one error code travels over each transport. */
export interface ErrorCodeMapping {
  /** The HTTP status of a request that failed with the code. */
  status: number;
  /** The issue type of the FHIR OperationOutcome (and the problem's kind on plain JSON routes). */
  issue: IssueType;
  /** What a message consumer does with a message that failed with the code. */
  message: MessageDisposition;
}

/**
 * A module's codes and their transports. A `Record` over the code enum: a new code does not compile until
 * it says its status, issue type and disposition.
 */
export type ErrorCodeMappings<C extends string> = Readonly<Record<C, ErrorCodeMapping>>;

export interface DomainExceptionOptions {
  /** FHIRPath (or field) expressions of the offending elements, never their values. */
  expression?: readonly string[];
  cause?: unknown;
}

/**
 * The base of every domain error of the platform: a module name and a typed code, mapped once per module
 * to an HTTP status, a FHIR issue type and a message disposition. Each module declares its own
 * subclass over its code enum (`class DispensingException extends DomainException<DispensingErrorCode>`);
 * the platform's one exception filter and the inbox consumer turn it into an answer or a disposition, so
 * no controller, writer or handler maps errors of its own.
 *
 * The message is what a client reads (diagnostics, problem detail, dead-letter reason): it names
 * resource types, ids, codes and elements, never patient data.
 */
export abstract class DomainException<C extends string = string> extends Error {
  readonly status: number;
  readonly issueType: IssueType;
  readonly disposition: MessageDisposition;
  readonly expression: readonly string[];

  protected constructor(
    /** The module the code belongs to (`dispensing`, `inventory`…): codes are unique within a module. */
    readonly module: string,
    readonly code: C,
    mappings: ErrorCodeMappings<C>,
    message: string,
    options: DomainExceptionOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    const mapping = mappings[code];
    this.status = mapping.status;
    this.issueType = mapping.issue;
    this.disposition = mapping.message;
    this.expression = [...(options.expression ?? [])];
  }

  /** The problem type URI of the code (RFC 9457 `type`): one per module and code. */
  get problemType(): string {
    return problemTypeOf(this.module, this.code);
  }
}

export function isDomainException(error: unknown): error is DomainException {
  return error instanceof DomainException;
}

/** The problem type URI of a module's code. */
export function problemTypeOf(module: string, code: string): string {
  return `urn:hospital:problem:${module}:${code}`;
}
