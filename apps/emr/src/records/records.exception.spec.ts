import { ErrorProbe, startErrorProbe } from '@hospital/fhir/errors/testing/error-probe';
import { deliverFailing } from '@hospital/transactions/testing/failing-consumer';
import { RecordsErrorCode, RecordsException } from './records.exception';

/** How a client and a consumer see each code: written out here, so a changed mapping fails a test. */
const seen: Record<
  RecordsErrorCode,
  { status: number; title: string; issue: string; message: 'retry' | 'dead-letter' }
> = {
  [RecordsErrorCode.UnroutableOrder]: {
    status: 400,
    title: 'Bad Request',
    issue: 'invalid',
    message: 'dead-letter',
  },
  [RecordsErrorCode.PatientChanged]: {
    status: 409,
    title: 'Conflict',
    issue: 'conflict',
    message: 'dead-letter',
  },
  [RecordsErrorCode.NotCommitted]: {
    status: 503,
    title: 'Service Unavailable',
    issue: 'transient',
    message: 'retry',
  },
  [RecordsErrorCode.OutcomeUnknown]: {
    status: 503,
    title: 'Service Unavailable',
    issue: 'transient',
    message: 'retry',
  },
};

const codes = Object.values(RecordsErrorCode);
const errorOf = (code: RecordsErrorCode) =>
  new RecordsException(code, `Record update g-1: ${code}`, ['ServiceRequest.category']);
const each = codes.map((code, index) => [code, index] as const);

describe('record update errors over HTTP', () => {
  let probe: ErrorProbe;
  beforeAll(async () => {
    probe = await startErrorProbe(codes.map(errorOf));
  });
  afterAll(() => probe.close());

  it.each(each)('answers %s on a FHIR route with its status and OperationOutcome', async (code, index) => {
    const answer = await probe.get('fhir', index);
    expect(answer.status).toBe(seen[code].status);
    expect(answer.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: seen[code].issue,
          diagnostics: `Record update g-1: ${code}`,
          expression: ['ServiceRequest.category'],
        },
      ],
    });
  });

  it.each(each)('answers %s on an /api route with its status and problem JSON', async (code, index) => {
    const answer = await probe.get('api', index);
    expect(answer.status).toBe(seen[code].status);
    expect(answer.contentType).toMatch(/^application\/problem\+json/);
    expect(answer.body).toEqual({
      type: `urn:hospital:problem:records:${code}`,
      title: seen[code].title,
      status: seen[code].status,
      detail: `Record update g-1: ${code}`,
      code,
      expression: ['ServiceRequest.category'],
    });
  });
});

describe('record update errors in message consumers', () => {
  it.each(codes)('settles %s as its code says, with the code as the reason', async (code) => {
    const reason = `${code}: Record update g-1: ${code}`;
    const { disposition } = await deliverFailing(errorOf(code), { deliveryCount: 0, maxAttempts: 3 });
    expect(disposition).toEqual(
      seen[code].message === 'dead-letter'
        ? { kind: 'dead-letter', reason }
        : { kind: 'retry', reason: `failed 1 time(s): ${reason}` },
    );
  });
});
