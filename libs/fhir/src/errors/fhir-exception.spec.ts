import type { OperationOutcome } from '@medplum/fhirtypes';
import { ArgumentsHost, BadRequestException, HttpException, Logger, NotFoundException } from '@nestjs/common';
import { FhirErrorCode, fhirErrorIssueType, fhirErrorStatus } from './fhir-error-code';
import { FhirException, informationOutcome, operationOutcome } from './fhir-exception';
import { FhirExceptionFilter, toFhirErrorResponse } from './fhir-exception.filter';

const expectedStatus: Record<FhirErrorCode, number> = {
  [FhirErrorCode.Invalid]: 400,
  [FhirErrorCode.NotFound]: 404,
  [FhirErrorCode.Gone]: 410,
  [FhirErrorCode.PreconditionFailed]: 412,
  [FhirErrorCode.UnknownSearchParameter]: 400,
  [FhirErrorCode.UnsupportedMediaType]: 415,
  [FhirErrorCode.PayloadTooLarge]: 413,
  [FhirErrorCode.ReferenceNotFound]: 422,
  [FhirErrorCode.Conflict]: 409,
  [FhirErrorCode.MethodNotAllowed]: 405,
  [FhirErrorCode.Unauthorized]: 401,
  [FhirErrorCode.Forbidden]: 403,
  [FhirErrorCode.Unavailable]: 503,
  [FhirErrorCode.Internal]: 500,
};

class FakeResponse {
  statusCode = 200;
  headers: Record<string, unknown> = {};
  body: unknown;
  headersSent = false;
  ended = false;
  status(code: number): this {
    this.statusCode = code;
    return this;
  }
  setHeader(name: string, value: unknown): this {
    this.headers[name.toLowerCase()] = value;
    return this;
  }
  send(body: unknown): this {
    this.body = body;
    return this;
  }
  end(): this {
    this.ended = true;
    return this;
  }
}

function hostFor(response: FakeResponse): ArgumentsHost {
  return {
    getType: () => 'http',
    switchToHttp: () => ({ getResponse: () => response, getRequest: () => ({}), getNext: () => undefined }),
  } as unknown as ArgumentsHost;
}

function filterOutput(exception: unknown): {
  status: number;
  contentType: unknown;
  body: OperationOutcome;
} {
  const response = new FakeResponse();
  new FhirExceptionFilter().catch(exception, hostFor(response));
  return {
    status: response.statusCode,
    contentType: response.headers['content-type'],
    body: JSON.parse(String(response.body)) as OperationOutcome,
  };
}

describe('FHIR errors', () => {
  let logged: jest.SpyInstance;
  beforeEach(() => {
    logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => logged.mockRestore());

  it.each(Object.values(FhirErrorCode))('maps %s to its status and an OperationOutcome', (code) => {
    const exception = new FhirException(code, 'Something about Patient/123');
    expect(exception.status).toBe(expectedStatus[code]);
    expect(fhirErrorStatus(code)).toBe(expectedStatus[code]);
    expect(exception.outcome).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        { severity: 'error', code: fhirErrorIssueType(code), diagnostics: 'Something about Patient/123' },
      ],
    });
    const output = filterOutput(exception);
    expect(output.status).toBe(expectedStatus[code]);
    expect(output.contentType).toMatch(/^application\/fhir\+json/);
    expect(output.body.resourceType).toBe('OperationOutcome');
  });

  it('keeps expressions and supplied issues', () => {
    const withExpression = FhirException.invalid('Bad element', ['Patient.gender']);
    expect(withExpression.expression).toEqual(['Patient.gender']);
    expect(withExpression.outcome.issue[0].expression).toEqual(['Patient.gender']);
    const issues = operationOutcome(
      { code: 'structure', diagnostics: 'x' },
      { code: 'required', severity: 'warning' },
    );
    const withIssues = new FhirException(FhirErrorCode.Invalid, 'Invalid', { issues: issues.issue });
    expect(withIssues.outcome.issue).toHaveLength(2);
    expect(informationOutcome('Deleted').issue[0]).toEqual({
      severity: 'information',
      code: 'informational',
      diagnostics: 'Deleted',
    });
  });

  it('answers malformed JSON with 400 without quoting the body', () => {
    let parseError: unknown;
    try {
      JSON.parse('{"name": Smith-Secret}');
    } catch (error) {
      parseError = error;
    }
    const output = filterOutput(
      new BadRequestException((parseError as Error).message, { cause: parseError }),
    );
    expect(output.status).toBe(400);
    expect(output.body.issue[0].diagnostics).toBe('Request body is not valid JSON');
    expect(JSON.stringify(output.body)).not.toContain('Smith');
  });

  it('answers body-parser errors by type (oversize → 413)', () => {
    const tooLarge = Object.assign(new Error('request entity too large'), {
      type: 'entity.too.large',
      status: 413,
      statusCode: 413,
    });
    const output = filterOutput(new HttpException('request entity too large', 413, { cause: tooLarge }));
    expect(output.status).toBe(413);
    expect(output.body.issue[0]).toEqual({
      severity: 'error',
      code: 'too-long',
      diagnostics: 'Request body exceeds the size limit',
    });
  });

  it('answers unknown routes with 404 and drops the query string', () => {
    const output = filterOutput(new NotFoundException('Cannot GET /fhir/Patient/1/x?name=Secret'));
    expect(output.status).toBe(404);
    expect(output.body.issue[0]).toEqual({
      severity: 'error',
      code: 'not-found',
      diagnostics: 'No route for GET /fhir/Patient/1/x',
    });
  });

  it('keeps the message of other client HttpExceptions', () => {
    const output = filterOutput(new HttpException({ message: ['a must be set', 'b must be a string'] }, 422));
    expect(output.status).toBe(422);
    expect(output.body.issue[0]).toEqual({
      severity: 'error',
      code: 'processing',
      diagnostics: 'a must be set; b must be a string',
    });
  });

  it('answers any other error with a generic 500 and logs message and stack only', () => {
    const output = filterOutput(new Error('connection to 10.0.0.5 refused while saving Jane Doe'));
    expect(output.status).toBe(500);
    expect(output.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'exception', diagnostics: 'Internal server error' }],
    });
    expect(logged).toHaveBeenCalledTimes(1);
    expect(String(logged.mock.calls[0][0])).toContain('connection to 10.0.0.5 refused');
    expect(toFhirErrorResponse('a string').status).toBe(500);
    expect(toFhirErrorResponse(new HttpException('boom', 502)).outcome.issue[0].diagnostics).toBe(
      'Bad Gateway',
    );
  });

  it('does not log client errors', () => {
    filterOutput(FhirException.notFound('Patient', '1'));
    filterOutput(new BadRequestException('x'));
    expect(logged).not.toHaveBeenCalled();
  });

  it('only ends a response whose headers are already sent', () => {
    const response = new FakeResponse();
    response.headersSent = true;
    new FhirExceptionFilter().catch(new Error('late'), hostFor(response));
    expect(response.ended).toBe(true);
    expect(response.body).toBeUndefined();
  });
});
