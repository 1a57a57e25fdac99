import { BadRequestException, Logger } from '@nestjs/common';
import { DomainException, ErrorCodeMappings } from '@hospital/platform';
import { FhirErrorCode } from './fhir-error-code';
import { FhirException } from './fhir-exception';
import { ErrorProbe, startErrorProbe } from './testing/error-probe';

/** Each FHIR code as a client sees it: status and OperationOutcome issue type (written out, not derived). */
const fhirCodes: Record<FhirErrorCode, { status: number; issue: string; title: string }> = {
  [FhirErrorCode.Invalid]: { status: 400, issue: 'invalid', title: 'Bad Request' },
  [FhirErrorCode.NotFound]: { status: 404, issue: 'not-found', title: 'Not Found' },
  [FhirErrorCode.Gone]: { status: 410, issue: 'deleted', title: 'Gone' },
  [FhirErrorCode.PreconditionFailed]: { status: 412, issue: 'conflict', title: 'Precondition Failed' },
  [FhirErrorCode.UnknownSearchParameter]: { status: 400, issue: 'not-supported', title: 'Bad Request' },
  [FhirErrorCode.UnsupportedMediaType]: {
    status: 415,
    issue: 'not-supported',
    title: 'Unsupported Media Type',
  },
  [FhirErrorCode.PayloadTooLarge]: { status: 413, issue: 'too-long', title: 'Payload Too Large' },
  [FhirErrorCode.ReferenceNotFound]: { status: 422, issue: 'not-found', title: 'Unprocessable Entity' },
  [FhirErrorCode.Conflict]: { status: 409, issue: 'conflict', title: 'Conflict' },
  [FhirErrorCode.MethodNotAllowed]: { status: 405, issue: 'not-supported', title: 'Method Not Allowed' },
  [FhirErrorCode.Unauthorized]: { status: 401, issue: 'login', title: 'Unauthorized' },
  [FhirErrorCode.Forbidden]: { status: 403, issue: 'forbidden', title: 'Forbidden' },
  [FhirErrorCode.Unavailable]: { status: 503, issue: 'transient', title: 'Service Unavailable' },
  [FhirErrorCode.Internal]: { status: 500, issue: 'exception', title: 'Internal Server Error' },
};

enum WardErrorCode {
  BedTaken = 'bed-taken',
}

/** A module's exception as any service declares one. */
class WardException extends DomainException<WardErrorCode> {
  static readonly mappings: ErrorCodeMappings<WardErrorCode> = {
    [WardErrorCode.BedTaken]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  };
  constructor(code: WardErrorCode, message: string, expression: string[]) {
    super('ward', code, WardException.mappings, message, { expression });
  }
}

const codes = Object.values(FhirErrorCode);
const others = {
  ward: codes.length,
  validation: codes.length + 1,
  unexpected: codes.length + 2,
  validatorIssues: codes.length + 3,
};

describe('the exception filter over HTTP', () => {
  let probe: ErrorProbe;
  let logged: jest.SpyInstance;

  beforeAll(async () => {
    probe = await startErrorProbe([
      ...codes.map((code) => new FhirException(code, `Encounter/e-1: ${code}`)),
      new WardException(WardErrorCode.BedTaken, 'Location/bed-4 is taken', ['Encounter.location']),
      new BadRequestException({ message: ['location must be a string', 'limit must not be less than 1'] }),
      new Error('connection to 10.0.0.5 refused while saving Jane Doe'),
      new FhirException(FhirErrorCode.Invalid, 'Invalid resource', {
        issues: [
          { severity: 'error', code: 'required', expression: ['Patient.name'] },
          { severity: 'error', code: 'value', expression: ['Patient.gender'] },
        ],
      }),
    ]);
  });
  beforeEach(() => {
    logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => logged.mockRestore());
  afterAll(() => probe.close());

  it.each(codes.map((code, index) => [code, index] as const))(
    'answers FHIR code %s on a FHIR route with its status and an OperationOutcome',
    async (code, index) => {
      const answer = await probe.get('fhir', index);
      expect(answer.status).toBe(fhirCodes[code].status);
      expect(answer.contentType).toBe('application/fhir+json; charset=utf-8');
      expect(answer.body).toEqual({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: fhirCodes[code].issue, diagnostics: `Encounter/e-1: ${code}` }],
      });
    },
  );

  it.each(codes.map((code, index) => [code, index] as const))(
    'answers FHIR code %s on an /api route with its status and problem JSON',
    async (code, index) => {
      const answer = await probe.get('api', index);
      expect(answer.status).toBe(fhirCodes[code].status);
      expect(answer.contentType).toBe('application/problem+json; charset=utf-8');
      expect(answer.body).toEqual({
        type: `urn:hospital:problem:fhir:${code}`,
        title: fhirCodes[code].title,
        status: fhirCodes[code].status,
        detail: `Encounter/e-1: ${code}`,
        code,
      });
    },
  );

  it("answers a module's domain error with its own status, issue type, code and expression", async () => {
    const fhir = await probe.get('fhir', others.ward);
    expect(fhir.status).toBe(409);
    expect(fhir.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'conflict',
          diagnostics: 'Location/bed-4 is taken',
          expression: ['Encounter.location'],
        },
      ],
    });
    const api = await probe.get('api', others.ward);
    expect(api.status).toBe(409);
    expect(api.body).toEqual({
      type: 'urn:hospital:problem:ward:bed-taken',
      title: 'Conflict',
      status: 409,
      detail: 'Location/bed-4 is taken',
      code: 'bed-taken',
      expression: ['Encounter.location'],
    });
  });

  it('answers a validation error on an /api route as an about:blank problem naming the rules', async () => {
    const api = await probe.get('api', others.validation);
    expect(api.status).toBe(400);
    expect(api.body).toEqual({
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      detail: 'location must be a string; limit must not be less than 1',
    });
  });

  it('answers an unexpected error with a generic 500 on both routes, logging it without the request', async () => {
    const fhir = await probe.get('fhir', others.unexpected);
    expect(fhir.status).toBe(500);
    expect(JSON.stringify(fhir.body)).not.toContain('Jane');
    const api = await probe.get('api', others.unexpected);
    expect(api.status).toBe(500);
    expect(api.body).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'Internal server error',
    });
    expect(logged).toHaveBeenCalledTimes(2);
  });

  it("keeps a validator's issues in the OperationOutcome", async () => {
    const fhir = await probe.get('fhir', others.validatorIssues);
    expect(fhir.status).toBe(400);
    expect((fhir.body as { issue: unknown[] }).issue).toHaveLength(2);
  });

  it('does not log client errors', async () => {
    await probe.get('fhir', others.ward);
    await probe.get('api', others.validation);
    expect(logged).not.toHaveBeenCalled();
  });
});
