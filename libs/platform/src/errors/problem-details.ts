import { STATUS_CODES } from 'node:http';
import { DomainException } from './domain-exception';

/** The media type of an RFC 9457 problem document. */
export const PROBLEM_JSON = 'application/problem+json';

/**
 * An RFC 9457 problem document, as the plain JSON (`/api`) routes answer errors. `code` is the domain
 * code (absent for errors that are not domain errors); `expression` names the offending fields.
 */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code?: string;
  expression?: string[];
}

/** The short summary of a status (RFC 9457 `title`). */
export function statusTitle(status: number): string {
  return STATUS_CODES[status] ?? (status >= 500 ? 'Internal Server Error' : 'Request failed');
}

/** The problem document of a domain error. */
export function domainProblem(error: DomainException): ProblemDetails {
  const problem: ProblemDetails = {
    type: error.problemType,
    title: statusTitle(error.status),
    status: error.status,
    detail: error.message,
    code: error.code,
  };
  if (error.expression.length > 0) problem.expression = [...error.expression];
  return problem;
}

/** The problem document of an error that has no domain code (`about:blank`: the status says it all). */
export function statusProblem(status: number, detail: string): ProblemDetails {
  return { type: 'about:blank', title: statusTitle(status), status, detail };
}
