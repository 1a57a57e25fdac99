import type { Bundle, BundleLink } from '@medplum/fhirtypes';
import { weakETag } from '../etag';
import type { FhirHistoryPage } from '../store/fhir-resource-store';
import { normalizeBaseUrl } from './bundle-links';

export interface HistoryBundleInput {
  baseUrl: string;
  resourceType: string;
  id: string;
  page: FhirHistoryPage;
  count: number;
  offset: number;
}

/** A `history` Bundle of one resource, newest version first (deletions carry no resource). */
export function historyBundle(input: HistoryBundleInput): Bundle {
  const base = normalizeBaseUrl(input.baseUrl);
  const { resourceType, id, page, count, offset } = input;
  const url = (at: number): string => `${base}/${resourceType}/${id}/_history?_count=${count}&_offset=${at}`;
  const link: BundleLink[] = [{ relation: 'self', url: url(offset) }];
  if (offset > 0) link.push({ relation: 'previous', url: url(Math.max(0, offset - count)) });
  if (offset + count < page.total) link.push({ relation: 'next', url: url(offset + count) });
  return {
    resourceType: 'Bundle',
    type: 'history',
    total: page.total,
    link,
    entry: page.entries.map((entry) => {
      const method = entry.deleted ? 'DELETE' : entry.versionId === '1' ? 'POST' : 'PUT';
      return {
        fullUrl: `${base}/${resourceType}/${id}`,
        ...(entry.resource === undefined ? {} : { resource: entry.resource }),
        request: { method, url: method === 'POST' ? resourceType : `${resourceType}/${id}` },
        response: {
          status: entry.deleted ? '204 No Content' : method === 'POST' ? '201 Created' : '200 OK',
          etag: weakETag(entry.versionId),
          lastModified: entry.lastUpdated,
        },
      };
    }),
  };
}
