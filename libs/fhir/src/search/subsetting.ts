import { tryGetDataType } from '@medplum/core';
import type { Coding, Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import type { SearchRequest } from './search-request';

/** The tag FHIR asks for on a resource returned with some of its elements left out. */
export const SUBSETTED_TAG: Readonly<Coding> = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'subsetted',
};

/** Always kept: what identifies the resource and its version. */
const ALWAYS_KEPT = ['resourceType', 'id', 'meta'];

interface ElementSets {
  summary: ReadonlySet<string>;
  mandatory: ReadonlySet<string>;
}

function elementSets(resourceType: string): ElementSets {
  loadFhirDefinitions([resourceType]);
  const schema = tryGetDataType(resourceType) as
    { summaryProperties?: Set<string>; mandatoryProperties?: Set<string> } | undefined;
  return {
    summary: schema?.summaryProperties ?? new Set<string>(),
    mandatory: schema?.mandatoryProperties ?? new Set<string>(),
  };
}

/**
 * Whether JSON key `key` (`birthDate`, `deceasedBoolean`, `_birthDate`) is the element `name` of `names`,
 * choice elements (`deceased[x]`, listed as `deceased`) matching any of their typed keys.
 */
function keyIn(key: string, names: ReadonlySet<string>): boolean {
  const element = key.startsWith('_') ? key.slice(1) : key;
  if (names.has(element)) return true;
  for (const name of names) {
    if (element.length > name.length && element.startsWith(name) && /[A-Z]/.test(element[name.length]))
      return true;
  }
  return false;
}

function tagged<T extends Resource>(resource: T, keep: (key: string) => boolean): T {
  const subset: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    if (ALWAYS_KEPT.includes(key) || keep(key)) subset[key] = value;
  }
  const meta = { ...(resource.meta ?? {}) };
  meta.tag = [...(meta.tag ?? []).filter((t) => t.code !== SUBSETTED_TAG.code), { ...SUBSETTED_TAG }];
  subset.meta = meta;
  return subset as T;
}

/**
 * A search match as `_summary` or `_elements` ask for it (unchanged without either): `_summary=true` keeps
 * the elements R4 marks as summary; `text` keeps text and the mandatory elements; `data` drops text;
 * `_elements` keeps the listed top-level elements and the mandatory ones (FHIR: servers SHOULD return
 * them). id, meta and resourceType are always kept; a subsetted resource is tagged SUBSETTED.
 */
export function subsetResource<T extends Resource>(
  resource: T,
  request: Pick<SearchRequest, 'summary' | 'elements'>,
): T {
  const { summary, elements } = request;
  if (summary === undefined && elements === undefined) return resource;
  if (summary === 'count') return resource;
  const sets = elementSets(resource.resourceType);
  if (elements !== undefined) {
    const listed = new Set(elements);
    return tagged(resource, (key) => keyIn(key, listed) || keyIn(key, sets.mandatory));
  }
  switch (summary) {
    case 'true':
      return tagged(resource, (key) => keyIn(key, sets.summary));
    case 'text':
      return tagged(resource, (key) => key === 'text' || keyIn(key, sets.mandatory));
    case 'data':
      return tagged(resource, (key) => key !== 'text');
    default:
      return resource;
  }
}
