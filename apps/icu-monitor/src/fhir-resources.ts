import type { SearchDeclaration } from '@hospital/fhir';

/**
 * The FHIR resource types the ICU monitor serves at /fhir, with their search parameters: the vitals it
 * receives (Observation), the NEWS2 scores it derives (RiskAssessment) and the alerts it raises (Flag).
 */
export const ICU_RESOURCES = {
  Observation: ['_id', 'identifier', 'subject', 'patient', 'code', 'category', 'date', 'device', 'status'],
  RiskAssessment: ['_id', 'subject', 'patient', 'date'],
  Flag: ['_id', 'subject', 'patient', 'date'],
} as const satisfies SearchDeclaration;
