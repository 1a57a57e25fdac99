import type { Encounter, Parameters, ServiceRequest } from '@medplum/fhirtypes';
import type { Stored } from '@hospital/fhir';
import { VIRTUAL_CLASS } from '../consults/consult-codes';
import { planConsultCompletion, type ConsultCompletionPlan } from '../consults/consult-completion.plan';

/** A consult request from referring site site-0001 to expert expert-0001 about `patientId`. */
export function consultRequest(patientId = 'pat-0001'): ServiceRequest {
  return {
    resourceType: 'ServiceRequest',
    status: 'active',
    intent: 'order',
    code: { text: 'Teledermatology consult' },
    subject: { reference: `Patient/${patientId}` },
    requester: { reference: 'Organization/site-0001' },
    performer: [{ reference: 'Practitioner/expert-0001' }],
  };
}

/** A virtual session of consult request `serviceRequestId`. */
export function virtualSession(serviceRequestId: string, patientId = 'pat-0001'): Encounter {
  return {
    resourceType: 'Encounter',
    status: 'in-progress',
    class: VIRTUAL_CLASS,
    subject: { reference: `Patient/${patientId}` },
    basedOn: [{ reference: `ServiceRequest/${serviceRequestId}` }],
    participant: [{ individual: { reference: 'Practitioner/expert-0001' } }],
    period: { start: '2025-01-10T09:00:00Z' },
  };
}

/** A completion body: a conclusion with one SNOMED CT code, and recommendations. */
export function completionParameters(extra: Parameters['parameter'] = []): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'conclusion', valueString: 'Findings consistent with contact dermatitis.' },
      {
        name: 'conclusionCode',
        valueCodeableConcept: {
          coding: [{ system: 'http://snomed.info/sct', code: '40275004', display: 'Contact dermatitis' }],
        },
      },
      { name: 'recommendation', valueString: 'Topical corticosteroid for two weeks; review in a month.' },
      ...extra,
    ],
  };
}

/** A stored copy as the store returns it (version 1). */
export function stored<T extends ServiceRequest | Encounter>(resource: T, id: string): Stored<T> {
  return { ...resource, id, meta: { versionId: '1', lastUpdated: '2025-01-10T09:00:00.000Z' } };
}

/** A planned completion of a request `sr-1` with session `enc-1`, for payload specs. */
export function examplePlan(patientId = 'pat-0001'): ConsultCompletionPlan {
  return planConsultCompletion({
    serviceRequest: stored(consultRequest(patientId), 'sr-1'),
    encounter: stored(virtualSession('sr-1', patientId), 'enc-1'),
    request: {
      conclusion: 'Findings consistent with contact dermatitis.',
      conclusionCodes: [{ coding: [{ system: 'http://snomed.info/sct', code: '40275004' }] }],
      recommendation: 'Topical corticosteroid for two weeks.',
    },
    patient: { reference: `Patient/${patientId}` },
    requester: { reference: 'Organization/site-0001' },
    expert: { reference: 'Practitioner/expert-0001' },
    gtid: 'gtid-1',
    diagnosticReportId: 'dr-1',
    communicationId: 'comm-1',
    now: '2025-01-10T10:00:00.000Z',
  });
}

/** The payload a plan gives `participant`. */
export function branchPayload(plan: ConsultCompletionPlan, participant: string): Record<string, unknown> {
  const branch = plan.branches.find((b) => b.participant === participant);
  if (branch === undefined) throw new Error(`no ${participant} branch`);
  return branch.payload as Record<string, unknown>;
}
