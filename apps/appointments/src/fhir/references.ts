import type { CodeableConcept, Reference } from '@medplum/fhirtypes';

/** A FHIR id (R4 `id`): letters, digits, `-` and `.`, up to 64. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The id a relative reference `<type>/<id>` names, or undefined for any other reference. */
export function idReferenced(reference: Reference | undefined, type: string): string | undefined {
  const value = reference?.reference;
  if (value === undefined || !value.startsWith(`${type}/`)) return undefined;
  const id = value.slice(type.length + 1);
  return FHIR_ID.test(id) ? id : undefined;
}

/** The type a relative reference `<type>/<id>` names, or undefined. */
export function typeReferenced(reference: Reference | undefined): string | undefined {
  const match = /^([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}$/.exec(reference?.reference ?? '');
  return match?.[1];
}

/** Every distinct `code` of the codings of `concepts` (a service type is known by its code). */
export function codesOf(concepts: readonly CodeableConcept[] | undefined): string[] {
  const codes = (concepts ?? []).flatMap((c) => (c.coding ?? []).map((coding) => coding.code));
  return [...new Set(codes.filter((code): code is string => code !== undefined && code !== ''))];
}

/** An R4 dateTime with a time of day and a zone, as an instant; undefined for partial dates or none. */
export function instantOf(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return undefined;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? undefined : at;
}
