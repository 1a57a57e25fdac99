// A minimal keep-alive HTTP client for the runners: one timed POST of a FHIR resource or Bundle, or GET.
import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import type { Bundle } from '@medplum/fhirtypes';

export interface PostResult {
  /** HTTP status, or undefined when no response arrived (connection refused or reset, time-out). */
  status?: number;
  body: string;
  /** Set when no response arrived. */
  error?: string;
  elapsedMs: number;
  headers?: IncomingHttpHeaders;
}

export function keepAliveAgent(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

export interface PostOptions {
  agent?: Agent;
  /** Sent as `x-correlation-id`: the service that takes the request mints its own gtid. */
  correlationId?: string;
  timeoutMs?: number;
  /** Sent as `authorization` when given (a bearer token). */
  authorization?: string;
}

/** POSTs a FHIR transaction Bundle to `<base>/fhir` with `x-correlation-id` when given. Never rejects. */
export function postBundle(base: string, bundle: Bundle, options: PostOptions = {}): Promise<PostResult> {
  return postFhir(`${base}/fhir`, bundle, options);
}

/** POSTs a FHIR resource (or Bundle) to `url` as `application/fhir+json`, timed. Never rejects. */
export function postFhir(url: string, resource: unknown, options: PostOptions = {}): Promise<PostResult> {
  return send('POST', url, Buffer.from(JSON.stringify(resource)), options);
}

/** GETs `url` (a JSON or FHIR search answer), timed. Never rejects. */
export function getJson(url: string, options: PostOptions = {}): Promise<PostResult> {
  return send('GET', url, undefined, options);
}

function send(
  method: 'GET' | 'POST',
  url: string,
  payload: Buffer | undefined,
  options: PostOptions,
): Promise<PostResult> {
  const started = performance.now();
  const headers: Record<string, string | number> = payload
    ? {
        'content-type': 'application/fhir+json',
        accept: 'application/fhir+json',
        'content-length': payload.length,
      }
    : { accept: 'application/json, application/fhir+json' };
  if (options.correlationId) headers['x-correlation-id'] = options.correlationId;
  if (options.authorization) headers.authorization = options.authorization;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Omit<PostResult, 'elapsedMs'>): void => {
      if (settled) return;
      settled = true;
      resolve({ ...result, elapsedMs: performance.now() - started });
    };
    const req = request(
      url,
      { method, headers, agent: options.agent ?? false, timeout: options.timeoutMs ?? 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('end', () =>
          finish({
            status: res.statusCode,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
        res.once('error', (error) => finish({ body: '', error: error.message }));
      },
    );
    req.once('timeout', () => req.destroy(new Error(`no response within ${options.timeoutMs ?? 30_000} ms`)));
    req.once('error', (error) => finish({ body: '', error: error.message }));
    req.end(payload);
  });
}

/** The first OperationOutcome diagnostics (or the start of the body) of a failed response, for messages. */
export function failureSummary(result: PostResult): string {
  if (result.error) return result.error;
  try {
    const parsed = JSON.parse(result.body) as { issue?: { diagnostics?: string; code?: string }[] };
    const issue = parsed.issue?.[0];
    if (issue) return `${result.status} ${issue.code ?? ''}: ${issue.diagnostics ?? ''}`.trim();
  } catch {
    // Not JSON.
  }
  return `${result.status} ${result.body.slice(0, 200)}`;
}
