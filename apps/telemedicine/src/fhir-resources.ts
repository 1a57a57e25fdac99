import type { SearchDeclaration } from '@hospital/fhir';

/**
 * The FHIR resource types telemedicine serves at /fhir, with their search parameters: consult requests
 * (`ServiceRequest`, requested by a referring site, performed by an expert), virtual sessions (`Encounter`
 * of class VR, `based-on` their request), the experts' findings (`DiagnosticReport`, written by a consult
 * completion only), and the seeded experts and referring sites.
 */
export const TELEMEDICINE_RESOURCES = {
  ServiceRequest: ['_id', 'subject', 'patient', 'status', 'requester', 'performer', 'identifier'],
  Encounter: ['_id', 'subject', 'patient', 'status', 'based-on', 'class'],
  DiagnosticReport: ['_id', 'subject', 'patient', 'status', 'based-on', 'encounter', 'code'],
  Practitioner: ['_id', 'identifier', 'name', 'family'],
  Organization: ['_id', 'identifier', 'name'],
} as const satisfies SearchDeclaration;
