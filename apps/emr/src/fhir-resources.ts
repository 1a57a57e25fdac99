import { RECORD_SEARCH, recordSearch, type SearchDeclaration } from '@hospital/fhir';

/**
 * The FHIR resource types the emr serves at /fhir, with their search parameters (also used by its seeds).
 * Completed telemedicine consults add their virtual Encounter (found by the consult request it was
 * `based-on` and its `class`) and the expert's findings, a read-only DiagnosticReport.
 */
export const EMR_RESOURCES = {
  ...recordSearch('Patient', 'Practitioner', 'ServiceRequest'),
  Encounter: [...RECORD_SEARCH.Encounter, 'based-on', 'class'],
  DiagnosticReport: ['_id', 'subject', 'patient', 'encounter', 'based-on', 'status', 'code'],
} as const satisfies SearchDeclaration;
