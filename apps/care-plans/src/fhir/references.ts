import type { CodeableConcept, Reference } from '@medplum/fhirtypes';
import { referenceTarget } from '@hospital/fhir';

/** The id a relative reference `<type>/<id>` names, or undefined for any other reference (absolute ones too). */
export function relativeId(reference: Reference | undefined, type: string): string | undefined {
  const value = reference?.reference;
  if (value === undefined) return undefined;
  const target = referenceTarget(value);
  return target?.resourceType === type && value === `${type}/${target.id}` ? target.id : undefined;
}

/** The code of the first coding of `concept` in `system`, or undefined. */
export function codeIn(concept: CodeableConcept | undefined, system: string): string | undefined {
  return concept?.coding?.find((coding) => coding.system === system && coding.code !== undefined)?.code;
}
