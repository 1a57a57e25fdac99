import type { CodeableConcept, Coding, Reference, Resource } from '@medplum/fhirtypes';

/** The encounter class of a virtual session (HL7 v3 ActCode VR, "virtual"). */
export const VIRTUAL_CLASS: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  code: 'VR',
  display: 'virtual',
};

/** The report code of an expert's findings unless the completion names one (LOINC 11488-4). */
export const CONSULT_NOTE: CodeableConcept = {
  coding: [{ system: 'http://loinc.org', code: '11488-4', display: 'Consult note' }],
};

/** Whether a session's class is virtual (VR). */
export function isVirtualClass(coding: Coding | undefined): boolean {
  return coding !== undefined && coding.system === VIRTUAL_CLASS.system && coding.code === VIRTUAL_CLASS.code;
}

/** A literal reference to a resource by type and id. */
export function ref<T extends Resource>(type: T['resourceType'], id: string): Reference<T> {
  return { reference: `${type}/${id}` };
}

/** A stored resource without the server-managed `meta.versionId` and `meta.lastUpdated`. */
export function withoutServerMeta<T extends Resource>(resource: T): T {
  const { meta, ...rest } = resource;
  if (meta === undefined) return resource;
  const { versionId: _v, lastUpdated: _l, ...own } = meta;
  return (Object.keys(own).length > 0 ? { ...rest, meta: own } : rest) as T;
}
