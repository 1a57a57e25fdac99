import type { SearchDeclaration } from '@hospital/fhir';

/** The FHIR resource types care-plans serves at /fhir, with their search parameters. */
export const CARE_PLAN_RESOURCES = {
  CareTeam: ['_id', 'subject', 'patient', 'participant', 'status'],
  CarePlan: ['_id', 'status', 'subject', 'patient', 'care-team', 'identifier', 'intent'],
} as const satisfies SearchDeclaration;
