import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { parseIfMatch, weakETag } from '../etag';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException } from '../errors/fhir-exception';
import type { Stored } from '../store/fhir-resource-store';
import { FhirValidator, isValidFhirId } from '../validation/fhir-validator';
import { normalizeBaseUrl } from './bundle-links';

/** One entry of a parsed transaction: the resource carries its final id and rewritten references. */
export interface TransactionEntry<T extends Resource = Resource> {
  method: 'POST' | 'PUT';
  resourceType: string;
  id: string;
  resource: T & { id: string };
  /** The entry's `fullUrl` as sent (e.g. `urn:uuid:…`). */
  fullUrl?: string;
  /** Version from `request.ifMatch`, for PUT. */
  ifMatch?: string;
}

export interface ParsedTransaction {
  entries: TransactionEntry[];
  /** `urn:uuid:`/`urn:oid:` fullUrls → the `Type/id` they now stand for. */
  references: Record<string, string>;
}

export interface ParseTransactionOptions {
  /** Resource types the service accepts in a transaction; others are a 400. */
  allowedTypes?: readonly string[];
  /** Id for each POST entry (a UUID by default). */
  newId?: () => string;
}

const fail = (message: string, expression: string): FhirException =>
  new FhirException(FhirErrorCode.Invalid, message, { expression: [expression] });

/** Deep copy with every `reference` that is a placeholder (urn:uuid / urn:oid) replaced. */
function rewriteReferences(value: unknown, path: string, map: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((item, i) => rewriteReferences(item, `${path}[${i}]`, map));
  if (typeof value !== 'object' || value === null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === 'reference' && typeof child === 'string' && /^urn:(uuid|oid):/.test(child)) {
      const target = map[child];
      if (target === undefined) {
        throw fail('Reference to a fullUrl that is not in the Bundle', `${path}.reference`);
      }
      copy[key] = target;
    } else copy[key] = rewriteReferences(child, `${path}.${key}`, map);
  }
  return copy;
}

/**
 * Validates an incoming `transaction` Bundle (FHIR R4 rules for the Bundle and every resource in
 * it) and prepares its entries: only POST `Type` and PUT `Type/id` requests; POST entries get a
 * server-assigned id; every `urn:uuid:`/`urn:oid:` reference to an entry's `fullUrl` is rewritten to
 * `Type/id`. Entries stay in Bundle order; the writer persists them in one local transaction.
 */
export function parseTransactionBundle(
  validator: FhirValidator,
  body: unknown,
  options: ParseTransactionOptions = {},
): ParsedTransaction {
  const bundle = validator.validate<Bundle>(body, 'Bundle');
  if (bundle.type !== 'transaction') throw fail('Bundle.type must be transaction', 'Bundle.type');
  const newId = options.newId ?? randomUUID;
  const references: Record<string, string> = {};
  const targets = new Set<string>();
  const drafts: (Omit<TransactionEntry, 'resource'> & { resource: Resource; path: string })[] = [];

  (bundle.entry ?? []).forEach((entry: BundleEntry, i) => {
    const path = `Bundle.entry[${i}]`;
    const { request, resource } = entry;
    if (request === undefined) throw fail('Each entry needs a request', `${path}.request`);
    if (resource === undefined) throw fail('Each entry needs a resource', `${path}.resource`);
    if (request.method !== 'POST' && request.method !== 'PUT') {
      throw fail('Only POST and PUT entries are supported', `${path}.request.method`);
    }
    if (
      request.ifNoneExist !== undefined ||
      request.ifNoneMatch !== undefined ||
      request.ifModifiedSince !== undefined
    ) {
      throw fail('Conditional requests are not supported', `${path}.request`);
    }
    if (options.allowedTypes !== undefined && !options.allowedTypes.includes(resource.resourceType)) {
      throw new FhirException(
        FhirErrorCode.MethodNotAllowed,
        `This service does not accept ${resource.resourceType} in a transaction`,
        { expression: [`${path}.resource`] },
      );
    }
    const url = request.url.replace(/^\/+/, '');
    let id: string;
    if (request.method === 'POST') {
      if (url !== resource.resourceType)
        throw fail('POST url must be the resource type', `${path}.request.url`);
      id = newId();
    } else {
      const [type, urlId, ...rest] = url.split('/');
      if (type !== resource.resourceType || urlId === undefined || rest.length > 0 || !isValidFhirId(urlId)) {
        throw fail('PUT url must be Type/id of the resource', `${path}.request.url`);
      }
      if (resource.id !== undefined && resource.id !== urlId) {
        throw fail('Resource id does not match the request url', `${path}.resource.id`);
      }
      id = urlId;
    }
    const target = `${resource.resourceType}/${id}`;
    if (targets.has(target)) throw fail('Two entries write the same resource', `${path}.request.url`);
    targets.add(target);
    if (entry.fullUrl !== undefined && /^urn:(uuid|oid):/.test(entry.fullUrl)) {
      if (references[entry.fullUrl] !== undefined) throw fail('Duplicate fullUrl', `${path}.fullUrl`);
      references[entry.fullUrl] = target;
    }
    const draft: (typeof drafts)[number] = {
      method: request.method,
      resourceType: resource.resourceType,
      id,
      resource,
      path,
    };
    if (entry.fullUrl !== undefined) draft.fullUrl = entry.fullUrl;
    if (request.method === 'PUT' && request.ifMatch !== undefined)
      draft.ifMatch = parseIfMatch(request.ifMatch);
    drafts.push(draft);
  });

  const entries = drafts.map(({ path, resource, ...entry }): TransactionEntry => {
    const rewritten = rewriteReferences(resource, `${path}.resource`, references) as Resource;
    return { ...entry, resource: { ...rewritten, id: entry.id } };
  });
  return { entries, references };
}

export interface TransactionResult {
  resource: Stored<Resource>;
  created: boolean;
}

/** The `transaction-response` Bundle: one entry per request entry, in the same order. */
export function transactionResponseBundle(baseUrl: string, results: TransactionResult[]): Bundle {
  const base = normalizeBaseUrl(baseUrl);
  return {
    resourceType: 'Bundle',
    type: 'transaction-response',
    entry: results.map(({ resource, created }) => {
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
