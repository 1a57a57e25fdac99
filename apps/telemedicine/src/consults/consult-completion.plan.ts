import type {
  Communication,
  DiagnosticReport,
  Encounter,
  Organization,
  Patient,
  Practitioner,
  Reference,
  ServiceRequest,
} from '@medplum/fhirtypes';
import type { ConsultFindingsPayload, Stored, WithId } from '@hospital/fhir';
import type { RecommendationPayload } from '../contracts/recommendation.contract';
import { CONSULT_NOTE, ref, withoutServerMeta } from './consult-codes';
import type { ConsultBranch } from './consult-commit.port';
import type { ConsultCompletionRequest } from './consult-completion.request';
import type { ConsultRecordPayload } from './consult-record.branch';

/** What a completion is planned from: the request and its session as read, and the ids it mints. */
export interface ConsultCompletionInput {
  serviceRequest: Stored<ServiceRequest>;
  encounter: Stored<Encounter>;
  request: ConsultCompletionRequest;
  /** The references the stored request was checked to carry. */
  patient: Reference<Patient>;
  requester: Reference<Organization>;
  expert: Reference<Practitioner>;
  /** Minted by the coordinator: the global transaction and the new resources' ids. */
  gtid: string;
  diagnosticReportId: string;
  communicationId: string;
  /** When the completion was accepted (ISO 8601). */
  now: string;
}

/** A planned completion: the new and changed resources, and each participant's branch. */
export interface ConsultCompletionPlan {
  gtid: string;
  serviceRequest: WithId<ServiceRequest>;
  encounter: WithId<Encounter>;
  diagnosticReport: WithId<DiagnosticReport>;
  communication: WithId<Communication>;
  branches: ConsultBranch[];
}

/**
 * Plans a consult completion (pure): the request completed, the session finished, the expert's findings
 * as a final `DiagnosticReport`, the recommendations as a `Communication` to the referring site; then the
 * three branches — the EMR's chart (findings and session), telemedicine's own record, the referral inbox.
 */
export function planConsultCompletion(input: ConsultCompletionInput): ConsultCompletionPlan {
  const { request, now } = input;
  const requestRef = ref<ServiceRequest>('ServiceRequest', input.serviceRequest.id);
  const sessionRef = ref<Encounter>('Encounter', input.encounter.id);
  const serviceRequest = { ...withoutServerMeta(input.serviceRequest), status: 'completed' as const };
  const encounter: WithId<Encounter> = {
    ...withoutServerMeta(input.encounter),
    status: 'finished',
    period: { ...input.encounter.period, start: input.encounter.period?.start ?? now, end: now },
  };
  const diagnosticReport: WithId<DiagnosticReport> = {
    resourceType: 'DiagnosticReport',
    id: input.diagnosticReportId,
    basedOn: [requestRef],
    status: 'final',
    code: request.code ?? CONSULT_NOTE,
    subject: input.patient,
    encounter: sessionRef,
    effectiveDateTime: now,
    issued: now,
    performer: [input.expert],
    conclusion: request.conclusion,
    ...(request.conclusionCodes.length > 0 ? { conclusionCode: request.conclusionCodes } : {}),
  };
  const communication: WithId<Communication> = {
    resourceType: 'Communication',
    id: input.communicationId,
    basedOn: [requestRef],
    status: 'completed',
    subject: input.patient,
    about: [requestRef, ref<DiagnosticReport>('DiagnosticReport', diagnosticReport.id)],
    encounter: sessionRef,
    sent: now,
    recipient: [input.requester],
    sender: input.expert,
    payload: [{ contentString: request.recommendation }],
  };
  const emr: ConsultFindingsPayload = {
    diagnosticReport: { ...diagnosticReport },
    encounter: { ...encounter },
  };
  const record: ConsultRecordPayload = {
    serviceRequest: { ...serviceRequest },
    serviceRequestVersion: input.serviceRequest.meta.versionId,
    encounter: { ...encounter },
    encounterVersion: input.encounter.meta.versionId,
    diagnosticReport: { ...diagnosticReport },
  };
  const inbox: RecommendationPayload = { communication: { ...communication } };
  return {
    gtid: input.gtid,
    serviceRequest,
    encounter,
    diagnosticReport,
    communication,
    branches: [
      { participant: 'emr', payload: emr },
      { participant: 'telemedicine', payload: record },
      { participant: 'referral-inbox', payload: inbox },
    ],
  };
}
