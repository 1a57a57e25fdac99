import type { Meta, Resource } from '@medplum/fhirtypes';
import { FhirException } from '../errors/fhir-exception';
import { isValidFhirId } from '../validation/fhir-validator';

// The content rules of stored resources: server-managed meta, canonical comparison, literal references.

/** A stored resource: `id`, `meta.versionId` and `meta.lastUpdated` are always set. */
export type Stored<T extends Resource> = T & {
  id: string;
  meta: Meta & { versionId: string; lastUpdated: string };
};

export function assertId(id: string): void {
  if (!isValidFhirId(id)) throw FhirException.invalid('Invalid resource id', ['id']);
}

/** `content` with the server's id and meta, keys in the usual order (resourceType, id, meta, …). */
export function withMeta<T extends Resource>(
  resource: T,
  id: string,
  versionId: number,
  lastUpdated: string,
): Stored<T> {
  const { resourceType, id: _id, meta, ...rest } = resource;
  return {
    resourceType,
    id,
    meta: { ...meta, versionId: String(versionId), lastUpdated },
    ...rest,
  } as unknown as Stored<T>;
}

export const resourceKey = (resource: Resource): string => `${resource.resourceType}/${resource.id}`;

/** Version 1 of each resource under its id, all with the same `lastUpdated`. */
export function withMetaMany<T extends Resource>(items: readonly { resource: T; id: string }[]): Stored<T>[] {
  const lastUpdated = new Date().toISOString();
  return items.map(({ resource, id }) => {
    assertId(id);
    return withMeta(resource, id, 1, lastUpdated);
  });
}

/** Deterministic JSON (sorted keys) of a resource without the server-managed meta fields. */
export function canonicalContent(resource: Resource): string {
  const copy = { ...resource } as Record<string, unknown>;
  if (resource.meta !== undefined) {
    const { versionId: _v, lastUpdated: _l, ...meta } = resource.meta;
    if (Object.keys(meta).length > 0) copy.meta = meta;
    else delete copy.meta;
  }
  const sort = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sort);
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(
        Object.keys(value)
          .sort()
          .map((key) => [key, sort((value as Record<string, unknown>)[key])]),
      );
    }
    return value;
  };
  return JSON.stringify(sort(copy));
}

/** Whether two versions of a resource say the same, ignoring the server-managed meta fields. */
export function sameContent(a: Resource, b: Resource): boolean {
  return canonicalContent(a) === canonicalContent(b);
}

/** Every `reference` string of a resource with its FHIRPath-like location. */
export function literalReferences(root: unknown, rootPath: string): { path: string; reference: string }[] {
  const found: { path: string; reference: string }[] = [];
  const stack: { value: unknown; path: string }[] = [{ value: root, path: rootPath }];
  while (stack.length > 0) {
    const { value, path } = stack.pop() as { value: unknown; path: string };
    if (Array.isArray(value)) value.forEach((item, i) => stack.push({ value: item, path: `${path}[${i}]` }));
    else if (typeof value === 'object' && value !== null) {
      for (const [key, child] of Object.entries(value)) {
        if (key === 'reference' && typeof child === 'string')
          found.push({ path: `${path}.reference`, reference: child });
        else if (key !== 'contained') stack.push({ value: child, path: `${path}.${key}` });
      }
    }
  }
  return found;
}
