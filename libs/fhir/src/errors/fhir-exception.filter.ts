import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { STATUS_CODES } from 'node:http';
import {
  isDomainException,
  PROBLEM_JSON,
  ProblemDetails,
  domainProblem,
  statusProblem,
} from '@hospital/platform';
import { FHIR_JSON_UTF8, FhirHttpResponse } from '../nest/http-types';
import { FhirErrorCode, IssueType, fhirErrorIssueType } from './fhir-error-code';
import { FhirException, operationOutcome } from './fhir-exception';

export interface FhirErrorResponse {
  status: number;
  outcome: OperationOutcome;
  /** True when the error is a fault of the server that should be logged with its stack. */
  unexpected: boolean;
}

export interface ProblemErrorResponse {
  status: number;
  problem: ProblemDetails;
  unexpected: boolean;
}

/** Errors raised by body-parser (http-errors `type`), as Nest hands them over in `HttpException.cause`. */
const bodyParserErrors: Record<string, { status: number; diagnostics: string }> = {
  'entity.parse.failed': { status: 400, diagnostics: 'Request body is not valid JSON' },
  'entity.too.large': { status: 413, diagnostics: 'Request body exceeds the size limit' },
  'encoding.unsupported': { status: 415, diagnostics: 'Unsupported content encoding' },
  'charset.unsupported': { status: 415, diagnostics: 'Unsupported charset' },
  'request.aborted': { status: 400, diagnostics: 'Request aborted' },
  'request.size.invalid': { status: 400, diagnostics: 'Request size did not match Content-Length' },
  'parameters.too.many': { status: 413, diagnostics: 'Too many parameters' },
};

/** The issue type that best describes an HTTP status. */
export function issueTypeForStatus(status: number): IssueType {
  switch (status) {
    case 400:
      return 'invalid';
    case 401:
      return 'login';
    case 403:
      return 'forbidden';
    case 404:
      return 'not-found';
    case 405:
    case 415:
    case 501:
      return 'not-supported';
    case 409:
    case 412:
      return 'conflict';
    case 410:
      return 'deleted';
    case 413:
      return 'too-long';
    case 429:
      return 'throttled';
    case 503:
    case 504:
      return 'transient';
    default:
      return status >= 500 ? 'exception' : status === 422 ? 'processing' : 'invalid';
  }
}

function statusText(status: number): string {
  return STATUS_CODES[status] ?? (status >= 500 ? 'Internal Server Error' : 'Request failed');
}

function bodyParserType(cause: unknown): string | undefined {
  if (typeof cause !== 'object' || cause === null) return undefined;
  const type = (cause as { type?: unknown }).type;
  return typeof type === 'string' ? type : undefined;
}

/**
 * Diagnostics for an HttpException. Messages derived from the request (JSON parse errors quote the
 * body; Nest's unknown-route message carries the query string) are replaced or trimmed, so neither
 * body values nor query values reach the response.
 */
function httpExceptionDiagnostics(exception: HttpException, status: number): string {
  const cause = exception.cause;
  const parserType = bodyParserType(cause);
  if (parserType !== undefined) return bodyParserErrors[parserType]?.diagnostics ?? statusText(status);
  if (cause instanceof SyntaxError) return bodyParserErrors['entity.parse.failed'].diagnostics;
  if (cause !== undefined) return statusText(status);
  const response = exception.getResponse();
  let message: string;
  if (typeof response === 'string') message = response;
  else {
    const inner = (response as { message?: unknown }).message;
    message = Array.isArray(inner)
      ? inner.filter((m): m is string => typeof m === 'string').join('; ')
      : typeof inner === 'string'
        ? inner
        : exception.message;
  }
  const route = /^Cannot ([A-Z]+) ([^?\s]*)/.exec(message);
  if (route !== null) return `No route for ${route[1]} ${route[2]}`;
  return message === '' ? statusText(status) : message;
}

/** Maps anything thrown while handling a request to a status and an OperationOutcome. */
export function toFhirErrorResponse(exception: unknown): FhirErrorResponse {
  if (exception instanceof FhirException) {
    return {
      status: exception.status,
      outcome: exception.outcome,
      unexpected: exception.code === FhirErrorCode.Internal,
    };
  }
  if (isDomainException(exception)) {
    return {
      status: exception.status,
      outcome: operationOutcome({
        code: exception.issueType,
        diagnostics: exception.message,
        expression: [...exception.expression],
      }),
      unexpected: exception.status >= 500 && exception.status !== 503,
    };
  }
  if (exception instanceof HttpException) {
    let status = exception.getStatus();
    const parserType = bodyParserType(exception.cause);
    if (parserType !== undefined && bodyParserErrors[parserType] !== undefined) {
      status = bodyParserErrors[parserType].status;
    }
    const diagnostics = status >= 500 ? statusText(status) : httpExceptionDiagnostics(exception, status);
    return {
      status,
      outcome: operationOutcome({ code: issueTypeForStatus(status), diagnostics }),
      unexpected: status >= 500,
    };
  }
  return {
    status: 500,
    outcome: operationOutcome({
      code: fhirErrorIssueType(FhirErrorCode.Internal),
      diagnostics: 'Internal server error',
    }),
    unexpected: true,
  };
}

/**
 * Maps anything thrown while handling a plain JSON (`/api`) request to a status and an RFC 9457 problem
 * document: a domain error with its code and problem type; anything else with the status and detail the
 * FHIR mapping gives it (the same sanitising of body and query values), as `about:blank`.
 */
export function toProblemResponse(exception: unknown): ProblemErrorResponse {
  const { status, outcome, unexpected } = toFhirErrorResponse(exception);
  if (isDomainException(exception)) return { status, problem: domainProblem(exception), unexpected };
  const detail = outcome.issue
    .map((issue) => issue.diagnostics)
    .filter((d): d is string => d !== undefined)
    .join('; ');
  return { status, problem: statusProblem(status, detail === '' ? statusText(status) : detail), unexpected };
}

/** Plain JSON routes (`/api/...`) answer problem documents; every other route is FHIR's. */
export function isPlainJsonRoute(url: string): boolean {
  return /^\/api(?:[/?#]|$)/.test(url);
}

/**
 * The one global exception filter of every service: any error — a module's DomainException, a FHIR
 * error, a Nest HttpException or an unexpected fault — becomes an `OperationOutcome` with the right status
 * and `Content-Type: application/fhir+json`, or, on the plain JSON `/api` routes, an RFC 9457
 * `application/problem+json` document with the same status. Unexpected errors are logged (message and
 * stack, never the request) and answered with generic diagnostics.
 */
@Catch()
export class FhirExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('FhirExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const http = host.switchToHttp();
    const request = http.getRequest<{ originalUrl?: string; url?: string } | undefined>();
    const plain = isPlainJsonRoute(request?.originalUrl ?? request?.url ?? '');
    const answer = plain ? toProblemResponse(exception) : toFhirErrorResponse(exception);
    if (answer.unexpected) this.logUnexpected(exception);
    const response = http.getResponse<FhirHttpResponse>();
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(answer.status);
    if ('problem' in answer) {
      response.setHeader('Content-Type', `${PROBLEM_JSON}; charset=utf-8`);
      response.send(JSON.stringify(answer.problem));
    } else {
      response.setHeader('Content-Type', FHIR_JSON_UTF8);
      response.send(JSON.stringify(answer.outcome));
    }
  }

  private logUnexpected(exception: unknown): void {
    if (exception instanceof Error)
      this.logger.error(`${exception.name}: ${exception.message}`, exception.stack);
    else this.logger.error(`Non-error thrown: ${typeof exception}`);
  }
}
