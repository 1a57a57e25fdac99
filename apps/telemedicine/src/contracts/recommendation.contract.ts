import { IsObject } from 'class-validator';
import type { Communication } from '@medplum/fhirtypes';
import {
  FhirErrorCode,
  FhirException,
  FhirValidator,
  payloadResource,
  referencedId,
  validatePayloadShape,
  type WithId,
} from '@hospital/fhir';

/**
 * The recommendation contract between telemedicine and the referring site's inbox: a completed consult's
 * recommendations travel as one `Communication` under the id telemedicine minted, to the requesting
 * `Organization`, about the patient, `basedOn` the consult request.
 */
export class RecommendationPayload {
  @IsObject() communication!: Record<string, unknown>;
}

/** A recommendation after validation. */
export interface Recommendation {
  communication: WithId<Communication>;
  patientId: string;
  serviceRequestId: string;
}

function reject(message: string): never {
  throw new FhirException(FhirErrorCode.Invalid, `recommendation payload: ${message}`);
}

/**
 * Validates a recommendation payload as strictly as a FHIR request body: the envelope by its class, the
 * Communication against FHIR R4 with an id, completed, sent to at least one Organization and to nothing
 * else, about a Patient, `basedOn` a ServiceRequest, carrying text. Throws a 400 FhirException otherwise.
 */
export function parseRecommendationPayload(validator: FhirValidator, payload: unknown): Recommendation {
  const shape = validatePayloadShape('recommendation', RecommendationPayload, payload);
  const communication = payloadResource<Communication>(
    validator,
    'recommendation',
    'communication',
    shape.communication,
    'Communication',
  );
  if (communication.status !== 'completed') reject('communication.status must be completed');
  const recipients = communication.recipient ?? [];
  if (recipients.length === 0 || recipients.some((r) => referencedId(r, 'Organization') === undefined))
    reject('communication.recipient must reference the referring Organization');
  const patientId = referencedId(communication.subject, 'Patient');
  if (patientId === undefined) reject('communication.subject must reference a Patient');
  const serviceRequestId = (communication.basedOn ?? [])
    .map((b) => referencedId(b, 'ServiceRequest'))
    .find((id) => id !== undefined);
  if (serviceRequestId === undefined) reject('communication.basedOn must reference the ServiceRequest');
  if (!(communication.payload ?? []).some((p) => (p.contentString ?? '').trim() !== ''))
    reject('communication.payload must carry the recommendations as contentString');
  return { communication, patientId, serviceRequestId };
}
