// Same-origin calls through the gateway with the user's token, and the fan-out of one admin route to
// every backend (`/api/<service>/<rest>`), where a 404 means "this service has none".
import { readToken } from './auth';

/** The services behind the gateway that the console asks. */
export const SERVICES = [
  'emr',
  'pharmacy',
  'icu-monitor',
  'appointments',
  'care-plans',
  'telemedicine',
  'audit',
  'pharmacy-supply-chain',
  'referral-inbox',
  'pharmacy-inventory',
] as const;

export type Service = (typeof SERVICES)[number];

export const FORBIDDEN_TEXT = 'your role may not see this';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get forbidden(): boolean {
    return this.status === 403;
  }
}

let onUnauthorized: (message: string) => void = () => undefined;

/** What to do when an API answers 401: the app returns to the sign-in screen with the message. */
export function setUnauthorizedHandler(handler: (message: string) => void): void {
  onUnauthorized = handler;
}

/** The human part of an error answer: RFC 9457 problem, Nest error, FHIR OperationOutcome or plain text. */
function describeError(status: number, statusText: string, body: string): string {
  let detail: string | undefined;
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    const issue = Array.isArray(json.issue)
      ? (json.issue[0] as Record<string, unknown> | undefined)
      : undefined;
    const candidates = [json.detail, json.message, json.title, json.error, issue?.diagnostics];
    for (const candidate of candidates) {
      if (typeof candidate === 'string' && candidate !== '') {
        detail = candidate;
        break;
      }
      if (Array.isArray(candidate) && candidate.length > 0) {
        detail = candidate.map(String).join('; ');
        break;
      }
    }
  } catch {
    detail = body.trim().slice(0, 200) || undefined;
  }
  return `${status} ${statusText || 'error'}${detail ? `: ${detail}` : ''}`;
}

/** One call with the token; a non-2xx answer throws ApiError (after the 401 handler ran for a 401). */
export async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = readToken();
  if (token) headers.set('Authorization', `Bearer ${token}`);
  if (!headers.has('Accept'))
    headers.set('Accept', 'application/json, application/fhir+json;q=0.9, */*;q=0.1');
  const response = await fetch(path, { ...init, headers, credentials: 'same-origin' });
  if (response.ok) return response;
  const message = describeError(response.status, response.statusText, await response.text().catch(() => ''));
  if (response.status === 401) onUnauthorized(message);
  throw new ApiError(response.status, message);
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const response = await call(path, { signal });
  const body: unknown = await response.json();
  return body as T;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const response = await call(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** `/api/<service>/<rest>`: the gateway forwards it to that service's `/api/<rest>`. */
export function servicePath(service: string, rest: string): string {
  return `/api/${encodeURIComponent(service)}/${rest.replace(/^\/+/, '')}`;
}

/** A query string of the non-empty values, `?` included (empty when there are none). */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== '') search.append(name, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

export interface ServiceWarning {
  service: string;
  message: string;
  status?: number;
}

export interface FanOut<T> {
  /** One entry per service that answered 2xx. */
  results: { service: string; value: T }[];
  /** Services that failed with something other than 404 (403 included). */
  warnings: ServiceWarning[];
  /** Every service that has the route refused the caller's role. */
  forbidden: boolean;
}

/**
 * Asks every service for `rest` at once. A 404 is "this service has none" and skipped; a 401 has already
 * signed the user out (and is rethrown); any other failure becomes a warning for that service.
 */
export async function fanOut<T>(
  rest: string | ((service: Service) => string),
  signal?: AbortSignal,
): Promise<FanOut<T>> {
  const settled = await Promise.allSettled(
    SERVICES.map(async (service) => ({
      service,
      value: await getJson<T>(servicePath(service, typeof rest === 'string' ? rest : rest(service)), signal),
    })),
  );
  const out: FanOut<T> = { results: [], warnings: [], forbidden: false };
  let unauthorized: ApiError | undefined;
  settled.forEach((outcome, index) => {
    const service = SERVICES[index];
    if (outcome.status === 'fulfilled') {
      out.results.push(outcome.value);
      return;
    }
    const error: unknown = outcome.reason;
    if (error instanceof ApiError) {
      if (error.status === 404) return;
      if (error.status === 401) unauthorized = error;
      out.warnings.push({
        service,
        status: error.status,
        message: error.forbidden ? FORBIDDEN_TEXT : error.message,
      });
      return;
    }
    if (error instanceof DOMException && error.name === 'AbortError') return;
    out.warnings.push({ service, message: error instanceof Error ? error.message : String(error) });
  });
  if (unauthorized) throw unauthorized;
  out.forbidden =
    out.results.length === 0 && out.warnings.length > 0 && out.warnings.every((w) => w.status === 403);
  return out;
}

/** The file name of a Content-Disposition header, if it names one. */
function fileName(disposition: string | null): string | undefined {
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition ?? '');
  return match ? decodeURIComponent(match[1]) : undefined;
}

/** Fetches `path` with the token and saves the answer as a file (the browser's download). */
export async function download(path: string, fallbackName: string): Promise<string> {
  const response = await call(path, { headers: { Accept: 'text/csv, */*;q=0.5' } });
  const blob = await response.blob();
  const name = fileName(response.headers.get('Content-Disposition')) ?? fallbackName;
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError && error.forbidden) return FORBIDDEN_TEXT;
  return error instanceof Error ? error.message : String(error);
}
