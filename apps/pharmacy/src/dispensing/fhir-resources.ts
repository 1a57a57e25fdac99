import type { SearchDeclaration } from '@hospital/fhir';

/** RxNorm, the code system of the formulary (`Medication.code`). */
export const RXNORM_SYSTEM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

/**
 * The FHIR resource types the dispensing part serves at /fhir, with their search parameters (also used by
 * its seeds). Dispenses are the hot write path, so their index is kept to what a pharmacist searches by.
 */
export const PHARMACY_RESOURCES = {
  Medication: ['_id', 'code', 'status', 'form'],
  // `medication` (a Medication reference) lets a client follow _include=MedicationRequest:medication and
  // _revinclude=MedicationRequest:medication from the formulary.
  MedicationRequest: ['_id', 'subject', 'patient', 'status', 'intent', 'code', 'medication', 'authoredon'],
  MedicationDispense: ['_id', 'subject', 'patient', 'status', 'code', 'prescription', 'whenhandedover'],
} as const satisfies SearchDeclaration;
