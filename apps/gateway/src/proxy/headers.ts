import type { IncomingHttpHeaders } from 'node:http';

/**
 * The client's headers a backend sees: what a FHIR interaction needs (content negotiation, the token,
 * preferences, conditional headers, the correlation ids, break-the-glass). Everything else is dropped, the
 * hop-by-hop headers (Connection, Keep-Alive, Transfer-Encoding, TE, Upgrade, Proxy-*) among them, and so
 * are any X-Forwarded-* a client sent: the gateway states those itself.
 */
export const FORWARDED_REQUEST_HEADERS = [
  'accept',
  'authorization',
  'content-type',
  'content-length',
  'prefer',
  'if-match',
  'if-none-match',
  'if-none-exist',
  'if-modified-since',
  'x-gtid',
  'x-correlation-id',
  'x-break-the-glass',
] as const;

/** Headers of a backend's answer the client never sees: hop-by-hop ones, and those the gateway sets itself. */
const DROPPED_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'date',
  'x-powered-by',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-expose-headers',
  'vary',
]);

/** Where the client reached the gateway, for the backend to name in links (see libs/fhir forwarded-base.ts). */
export interface ForwardedFor {
  /** The client's address, appended to X-Forwarded-For. */
  clientAddress?: string;
  /** X-Forwarded-For the gateway received from a proxy it trusts (else undefined). */
  priorForwardedFor?: string;
  protocol: string;
  host?: string;
  /** X-Forwarded-Prefix the gateway received from a proxy it trusts (else undefined). */
  prefix?: string;
}

export function backendRequestHeaders(
  incoming: IncomingHttpHeaders,
  forwarded: ForwardedFor,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = incoming[name];
    if (typeof value === 'string') headers[name] = value;
    else if (Array.isArray(value)) headers[name] = value.join(', ');
  }
  const chain = [forwarded.priorForwardedFor, forwarded.clientAddress].filter(
    (v): v is string => v !== undefined && v !== '',
  );
  if (chain.length > 0) headers['x-forwarded-for'] = chain.join(', ');
  headers['x-forwarded-proto'] = forwarded.protocol;
  if (forwarded.host !== undefined) headers['x-forwarded-host'] = forwarded.host;
  if (forwarded.prefix !== undefined) headers['x-forwarded-prefix'] = forwarded.prefix;
  return headers;
}

/**
 * The backend's answer headers the client gets: all but the hop-by-hop ones and those listed in the
 * answer's own Connection header, and those the gateway sets itself (CORS, Date).
 */
export function clientResponseHeaders(
  backend: Record<string, string | string[] | undefined>,
): [string, string | string[]][] {
  const connection = backend.connection;
  const listed = new Set(
    (Array.isArray(connection) ? connection.join(',') : (connection ?? ''))
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token !== ''),
  );
  return Object.entries(backend).flatMap(([name, value]) => {
    const lower = name.toLowerCase();
    if (value === undefined || DROPPED_RESPONSE_HEADERS.has(lower) || listed.has(lower)) return [];
    return [[lower, value]];
  });
}
