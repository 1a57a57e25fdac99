import type { FhirHttpRequest } from './http-types';

// The base URL a FHIR answer names in its links and Location headers. Behind the gateway, that must be the
// gateway's base, not this service's own address: the gateway says where the client reached it in
// X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Prefix, and those are believed only from a peer the
// service trusts (Express's `trust proxy`, set from TRUST_PROXY by the platform's bootstrap; loopback by
// default). The headers are honoured here rather than rewritten in the gateway so that answers stream
// through the gateway untouched: rewriting would mean buffering and re-serialising every body.

/** A host (name or address, optional port) that may appear in a URL; anything else is ignored. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
/** A path prefix of plain segments (`/hospital/api`); anything else is ignored. */
const PREFIX = /^(?:\/[A-Za-z0-9._~-]+)+\/?$/;

function firstValue(value: string | string[] | undefined): string | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  const first = raw?.split(',')[0]?.trim();
  return first === '' ? undefined : first;
}

/** Whether the request's immediate peer is a proxy this service trusts (Express's compiled `trust proxy`). */
export function fromTrustedProxy(request: FhirHttpRequest): boolean {
  const trust = request.app?.get('trust proxy fn') as ((address: string, hop: number) => unknown) | undefined;
  const address = request.socket?.remoteAddress;
  return typeof trust === 'function' && address !== undefined && trust(address, 0) === true;
}

/**
 * `<proto>://<host><prefix>/fhir` for this request: the forwarded values when a trusted proxy sent them
 * (and they are well formed), else the request's own protocol and Host header.
 */
export function requestBaseUrl(request: FhirHttpRequest): string {
  const trusted = fromTrustedProxy(request);
  const forwarded = (name: string, shape: RegExp): string | undefined => {
    if (!trusted) return undefined;
    const value = firstValue(request.headers[name]);
    return value !== undefined && shape.test(value) ? value : undefined;
  };
  // Express already reads X-Forwarded-Proto into `protocol` for a trusted peer.
  const protocol = request.protocol === 'https' ? 'https' : 'http';
  const host = forwarded('x-forwarded-host', HOST) ?? request.get('host') ?? 'localhost';
  const prefix = (forwarded('x-forwarded-prefix', PREFIX) ?? '').replace(/\/+$/, '');
  return `${protocol}://${host}${prefix}/fhir`;
}
