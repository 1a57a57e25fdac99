import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, BundleLink, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { SearchRequest } from '../search/search-request';
import { normalizeBaseUrl, searchPageUrl } from './bundle-links';

export interface SearchSetInput {
  baseUrl: string;
  request: SearchRequest;
  /** Matches over all pages; undefined when the request asked for `_total=none`. */
  total?: number;
  resources: Resource[];
  /** Resources `_include` and `_revinclude` brought in: entries in `include` mode. */
  included?: Resource[];
  /** Warnings about the search (parameters ignored…): the first entry, in `outcome` mode. */
  outcome?: OperationOutcome;
}

/**
 * The links of a search page, as absolute URLs that repeat only the accepted parameters:
 * `self` and `first` always; `previous` when the page does not start at offset 0; `next` when more
 * matches follow (known from the total, or from a full page when the total was not computed); `last`
 * when the total is known. A link to a page that does not exist is never emitted.
 */
export function searchSetLinks(
  baseUrl: string,
  request: SearchRequest,
  total: number | undefined,
  returned: number,
): BundleLink[] {
  const { count, offset } = request;
  const links: BundleLink[] = [
    { relation: 'self', url: searchPageUrl(baseUrl, request, offset) },
    { relation: 'first', url: searchPageUrl(baseUrl, request, 0) },
  ];
  if (count > 0 && offset > 0) {
    links.push({ relation: 'previous', url: searchPageUrl(baseUrl, request, Math.max(0, offset - count)) });
  }
  const more = total !== undefined ? offset + count < total : returned === count;
  if (count > 0 && more)
    links.push({ relation: 'next', url: searchPageUrl(baseUrl, request, offset + count) });
  if (count > 0 && total !== undefined) {
    const lastOffset = total === 0 ? 0 : Math.floor((total - 1) / count) * count;
    links.push({ relation: 'last', url: searchPageUrl(baseUrl, request, lastOffset) });
  }
  return links;
}

/**
 * A `searchset` Bundle for one page of results with absolute `fullUrl`s: the outcome entry first (when
 * there is one), then the matches in `match` mode, then the included resources in `include` mode.
 */
export function searchSetBundle(input: SearchSetInput): Bundle {
  const base = normalizeBaseUrl(input.baseUrl);
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset' };
  if (input.total !== undefined) bundle.total = input.total;
  bundle.link = searchSetLinks(base, input.request, input.total, input.resources.length);
  const entry = (resource: Resource, mode: 'match' | 'include'): BundleEntry => ({
    fullUrl: `${base}/${resource.resourceType}/${resource.id ?? ''}`,
    resource,
    search: { mode },
  });
  bundle.entry = [
    ...(input.outcome === undefined
      ? []
      : [
          {
            fullUrl: `urn:uuid:${randomUUID()}`,
            resource: input.outcome,
            search: { mode: 'outcome' as const },
          },
        ]),
    ...input.resources.map((resource) => entry(resource, 'match')),
    ...(input.included ?? []).map((resource) => entry(resource, 'include')),
  ];
  return bundle;
}
