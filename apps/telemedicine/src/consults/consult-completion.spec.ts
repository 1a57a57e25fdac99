import { FhirException, FhirValidator, parseConsultFindingsPayload } from '@hospital/fhir';
import { parseRecommendationPayload } from '../contracts/recommendation.contract';
import { branchPayload, completionParameters, examplePlan } from '../testing/consult-examples';
import { parseConsultCompletion } from './consult-completion.request';
import { parseConsultRecordPayload } from './consult-record.branch';
import { ConsultsErrorCode, ConsultsException } from './consults.exception';

const validator = new FhirValidator();

function refusal(run: () => unknown): { status: number; code: string; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof ConsultsException || error instanceof FhirException)
      return { status: error.status, code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('consult completion request', () => {
  it('reads the conclusion, its codes, the recommendation and an optional session', () => {
    const request = parseConsultCompletion(
      validator,
      completionParameters([{ name: 'session', valueReference: { reference: 'Encounter/enc-1' } }]),
      1000,
    );
    expect(request.conclusion).toBe('Findings consistent with contact dermatitis.');
    expect(request.conclusionCodes).toHaveLength(1);
    expect(request.recommendation).toMatch(/^Topical/);
    expect(request.sessionId).toBe('enc-1');
    expect(request.code).toBeUndefined();
  });

  it.each([
    ['a body that is not Parameters', { resourceType: 'Patient' }, 'invalid'],
    [
      'no recommendation',
      { resourceType: 'Parameters', parameter: [{ name: 'conclusion', valueString: 'x' }] },
      ConsultsErrorCode.InvalidCompletion,
    ],
    [
      'an unknown parameter',
      completionParameters([{ name: 'urgency', valueString: 'high' }]),
      ConsultsErrorCode.InvalidCompletion,
    ],
    [
      'a repeated conclusion',
      completionParameters([{ name: 'conclusion', valueString: 'again' }]),
      ConsultsErrorCode.InvalidCompletion,
    ],
    [
      'a conclusion of the wrong type',
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'conclusion', valueInteger: 3 },
          { name: 'recommendation', valueString: 'r' },
        ],
      },
      ConsultsErrorCode.InvalidCompletion,
    ],
    [
      'a blank recommendation (R4 strings carry text)',
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'conclusion', valueString: 'c' },
          { name: 'recommendation', valueString: '   ' },
        ],
      },
      'invalid',
    ],
    [
      'a session that is not an Encounter',
      completionParameters([{ name: 'session', valueReference: { reference: 'Patient/p' } }]),
      ConsultsErrorCode.InvalidCompletion,
    ],
  ])('refuses %s with a 400', (_case, body, code) => {
    const refused = refusal(() => parseConsultCompletion(validator, body, 1000));
    expect(refused.status).toBe(400);
    expect(refused.code).toBe(code);
  });

  it('refuses a text longer than the configured limit, naming the parameter and not its value', () => {
    const refused = refusal(() =>
      parseConsultCompletion(
        validator,
        {
          resourceType: 'Parameters',
          parameter: [
            { name: 'conclusion', valueString: 'secret '.repeat(40) },
            { name: 'recommendation', valueString: 'r' },
          ],
        },
        100,
      ),
    );
    expect(refused.status).toBe(400);
    expect(refused.message).toContain('conclusion');
    expect(refused.message).not.toContain('secret');
  });
});

describe('consult completion plan and branch payloads', () => {
  const plan = examplePlan();

  it('mints the findings and the recommendation, completes the request and finishes the session', () => {
    expect(plan.serviceRequest.status).toBe('completed');
    expect(plan.encounter.status).toBe('finished');
    expect(plan.encounter.period?.end).toBe('2025-01-10T10:00:00.000Z');
    expect(plan.diagnosticReport).toMatchObject({
      id: 'dr-1',
      status: 'final',
      basedOn: [{ reference: 'ServiceRequest/sr-1' }],
      encounter: { reference: 'Encounter/enc-1' },
      performer: [{ reference: 'Practitioner/expert-0001' }],
    });
    expect(plan.communication).toMatchObject({
      id: 'comm-1',
      recipient: [{ reference: 'Organization/site-0001' }],
      subject: { reference: 'Patient/pat-0001' },
      basedOn: [{ reference: 'ServiceRequest/sr-1' }],
    });
    expect(plan.branches.map((b) => b.participant)).toEqual(['emr', 'telemedicine', 'referral-inbox']);
  });

  it('gives each participant a payload its branch step accepts', () => {
    expect(parseConsultFindingsPayload(validator, branchPayload(plan, 'emr')).patientId).toBe('pat-0001');
    const record = parseConsultRecordPayload(validator, branchPayload(plan, 'telemedicine'));
    expect(record.serviceRequestVersion).toBe('1');
    expect(record.serviceRequest.meta).toBeUndefined();
    expect(
      parseRecommendationPayload(validator, branchPayload(plan, 'referral-inbox')).serviceRequestId,
    ).toBe('sr-1');
  });

  it.each([
    ['emr', (p: Record<string, unknown>) => ({ ...p, extra: true }), /consult-findings payload: .*extra/],
    [
      'emr',
      (p: Record<string, unknown>) => ({ diagnosticReport: p.diagnosticReport }),
      /consult-findings payload: encounter/,
    ],
    [
      'emr',
      (p: Record<string, unknown>) => ({
        ...p,
        encounter: { ...(p.encounter as object), status: 'in-progress' },
      }),
      /encounter.status must be finished/,
    ],
    [
      'telemedicine',
      (p: Record<string, unknown>) => ({ ...p, serviceRequestVersion: 'latest' }),
      /serviceRequestVersion/,
    ],
    [
      'telemedicine',
      (p: Record<string, unknown>) => ({
        ...p,
        serviceRequest: { ...(p.serviceRequest as object), status: 'active' },
      }),
      /serviceRequest.status must be completed/,
    ],
    [
      'telemedicine',
      (p: Record<string, unknown>) => ({
        ...p,
        diagnosticReport: { ...(p.diagnosticReport as object), id: undefined },
      }),
      /diagnosticReport has no valid id/,
    ],
    ['referral-inbox', () => ({ communication: 'text' }), /recommendation payload: communication/],
    [
      'referral-inbox',
      (p: Record<string, unknown>) => ({
        communication: { ...(p.communication as object), recipient: [{ reference: 'Practitioner/x' }] },
      }),
      /recipient must reference the referring Organization/,
    ],
    [
      'referral-inbox',
      (p: Record<string, unknown>) => ({ communication: { ...(p.communication as object), bogus: 1 } }),
      /recommendation payload: communication/,
    ],
  ])('refuses a bad %s payload with a 400 naming the problem', (participant, spoil, message) => {
    const payload = spoil(branchPayload(plan, participant));
    const parse = {
      emr: () => parseConsultFindingsPayload(validator, payload),
      telemedicine: () => parseConsultRecordPayload(validator, payload),
      'referral-inbox': () => parseRecommendationPayload(validator, payload),
    }[participant];
    const refused = refusal(() => parse?.());
    expect(refused.status).toBe(400);
    expect(refused.message).toMatch(message);
  });

  it('refuses a payload that is not an object', () => {
    expect(refusal(() => parseConsultRecordPayload(validator, null)).message).toMatch(/not a JSON object/);
    expect(refusal(() => parseRecommendationPayload(validator, [1])).message).toMatch(/not a JSON object/);
  });
});
