import type { SearchRequest } from '../search/search-request';

/** The base URL without trailing slashes (`https://emr.example/fhir`). */
export function normalizeBaseUrl(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '');
}

/** Absolute URL of a page of a search: the accepted parameters, then `_count` and `_offset`. */
export function searchPageUrl(baseUrl: string, request: SearchRequest, offset: number): string {
  const query = new URLSearchParams();
  for (const [name, value] of request.params) query.append(name, value);
  query.set('_count', String(request.count));
  query.set('_offset', String(offset));
  return `${normalizeBaseUrl(baseUrl)}/${request.resourceType}?${query.toString()}`;
}
