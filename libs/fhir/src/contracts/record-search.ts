import type { SearchDeclaration } from '../search/search-parameter-registry';

/**
 * Search parameters of the clinical records the EMR, LIS and PACS serve. Shared, so that a patient or an
 * order is found the same way in the EMR and in a department's copy.
 */
export const RECORD_SEARCH = {
  Patient: ['_id', 'identifier', 'name', 'family', 'given', 'birthdate', 'gender'],
  Practitioner: ['_id', 'identifier', 'name', 'family'],
  Encounter: ['_id', 'subject', 'patient', 'status'],
  ServiceRequest: ['_id', 'subject', 'patient', 'category', 'status', 'identifier', 'encounter'],
} as const satisfies SearchDeclaration;

/** The record types a service serves, with their parameters. */
export function recordSearch(...types: (keyof typeof RECORD_SEARCH)[]): SearchDeclaration {
  return Object.fromEntries(types.map((t) => [t, RECORD_SEARCH[t]]));
}
