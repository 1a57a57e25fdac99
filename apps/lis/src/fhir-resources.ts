import { recordSearch, type SearchDeclaration } from '@hospital/fhir';

/**
 * The FHIR resource types the lis serves at /fhir, with their search parameters (also used by its seeds):
 * the copies of patients and orders the EMR keeps there, and the results its analyzers send (read-only).
 */
export const LIS_RESOURCES = {
  ...recordSearch('Patient', 'ServiceRequest'),
  DiagnosticReport: ['_id', 'subject', 'patient', 'based-on', 'status', 'code', 'category'],
  Observation: ['_id', 'subject', 'patient', 'based-on', 'status', 'code', 'category'],
} as const satisfies SearchDeclaration;
