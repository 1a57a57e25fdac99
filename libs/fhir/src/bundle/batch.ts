import { STATUS_CODES } from 'node:http';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { weakETag } from '../etag';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException } from '../errors/fhir-exception';
import type { Stored } from '../store/fhir-resource-store';
import { FhirValidator, isValidFhirId } from '../validation/fhir-validator';
import { normalizeBaseUrl } from './bundle-links';

/**
 * One request entry of a `batch` Bundle. FHIR R4 (http.html#transaction) processes a batch entry by entry,
 * as if each were a request of its own: an entry that cannot run gets its own error in the
 * `batch-response`, and the others run regardless. `resource` is the entry's body, not yet validated: the
 * create or update that runs it validates it like the body of a single request.
 */
export type BatchEntry =
  | { method: 'POST'; resourceType: string; resource: unknown }
  /** `ifMatch` as the entry sends it (`W/"3"`), read like an If-Match header. */
  | { method: 'PUT'; resourceType: string; id: string; resource: unknown; ifMatch?: string }
  | { error: FhirException };

/** What one entry came to: the stored resource, or the status and OperationOutcome of its failure. */
export type BatchEntryResult =
  { resource: Stored<Resource>; created: boolean } | { status: number; outcome: OperationOutcome };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** True for a body that is a Bundle of type `batch` (before any validation). */
export function isBatchBundle(body: unknown): boolean {
  return isObject(body) && body.resourceType === 'Bundle' && body.type === 'batch';
}

const entryError = (message: string, expression: string, code = FhirErrorCode.Invalid): BatchEntry => ({
  error: new FhirException(code, message, { expression: [expression] }),
});

/** The request an entry makes, or why it cannot be run. */
function batchEntryOf(entry: BundleEntry, path: string): BatchEntry {
  const { request } = entry;
  const resource: unknown = entry.resource;
  if (request === undefined) return entryError('Each entry needs a request', `${path}.request`);
  if (request.method !== 'POST' && request.method !== 'PUT') {
    return entryError(
      'Only POST and PUT entries are supported in a batch',
      `${path}.request.method`,
      FhirErrorCode.MethodNotAllowed,
    );
  }
  if (
    request.ifNoneExist !== undefined ||
    request.ifNoneMatch !== undefined ||
    request.ifModifiedSince !== undefined
  ) {
    return entryError('Conditional requests are not supported', `${path}.request`);
  }
  if (!isObject(resource) || typeof resource.resourceType !== 'string') {
    return entryError('Each entry needs a resource', `${path}.resource`);
  }
  const type = resource.resourceType;
  const url = request.url.replace(/^\/+/, '');
  if (request.method === 'POST') {
    if (url !== type) return entryError('POST url must be the resource type', `${path}.request.url`);
    return { method: 'POST', resourceType: type, resource };
  }
  const [urlType, id, ...rest] = url.split('/');
  if (urlType !== type || id === undefined || rest.length > 0 || !isValidFhirId(id)) {
    return entryError('PUT url must be Type/id of the resource', `${path}.request.url`);
  }
  const put: BatchEntry = { method: 'PUT', resourceType: type, id, resource };
  if (request.ifMatch !== undefined) put.ifMatch = request.ifMatch;
  return put;
}

/**
 * Validates the envelope of a `batch` Bundle (FHIR R4 rules for the Bundle, its entries' `request`s
 * included, without the entries' resources) and reads each entry's request. A malformed envelope is a 400
 * for the whole Bundle; a malformed entry is that entry's error only. Entries of a batch may not depend on
 * each other (R4), so `urn:uuid:` references are left as they are: the write that runs the entry refuses
 * them if it must.
 */
export function parseBatchBundle(validator: FhirValidator, body: unknown): BatchEntry[] {
  const entries = isObject(body) && Array.isArray(body.entry) ? (body.entry as unknown[]) : undefined;
  const withoutResource = (entry: unknown): unknown => {
    if (!isObject(entry)) return entry;
    const { resource: _resource, ...rest } = entry;
    return rest;
  };
  const envelope =
    isObject(body) && entries !== undefined ? { ...body, entry: entries.map(withoutResource) } : body;
  const bundle = validator.validate<Bundle>(envelope, 'Bundle');
  if (bundle.type !== 'batch') {
    throw new FhirException(FhirErrorCode.Invalid, 'Bundle.type must be batch', {
      expression: ['Bundle.type'],
    });
  }
  return (bundle.entry ?? []).map((entry, i) =>
    batchEntryOf({ ...entry, resource: (entries?.[i] as BundleEntry).resource }, `Bundle.entry[${i}]`),
  );
}

const statusLine = (status: number): string => `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;

/** The `batch-response` Bundle: one entry per request entry, in the same order, each with its own status. */
export function batchResponseBundle(baseUrl: string, results: readonly BatchEntryResult[]): Bundle {
  const base = normalizeBaseUrl(baseUrl);
  return {
    resourceType: 'Bundle',
    type: 'batch-response',
    entry: results.map((result): BundleEntry => {
      if ('outcome' in result)
        return { response: { status: statusLine(result.status), outcome: result.outcome } };
      const { resource, created } = result;
      const url = `${base}/${resource.resourceType}/${resource.id}`;
      return {
        fullUrl: url,
        resource,
        response: {
          status: created ? '201 Created' : '200 OK',
          location: `${url}/_history/${resource.meta.versionId}`,
          etag: weakETag(resource.meta.versionId),
          lastModified: resource.meta.lastUpdated,
        },
      };
    }),
  };
}
