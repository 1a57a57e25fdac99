import { GTID_HEADER } from '../../core/gtid';

/** Raised when a peer answered with a non-2xx status or with a body that breaks the contract. */
export class PeerCallError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** POSTs or GETs JSON to a peer service with the gtid header and a time-out; returns the parsed body. */
export async function callPeer(
  url: string,
  gtid: string,
  options: { method?: 'GET' | 'POST'; body?: unknown; timeoutMs: number; headers?: Record<string, string> },
): Promise<unknown> {
  const response = await fetch(url, {
    method: options.method ?? 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      [GTID_HEADER]: gtid,
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(options.timeoutMs),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new PeerCallError(`${new URL(url).pathname} answered ${response.status}`, response.status);
  }
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    throw new PeerCallError(`${new URL(url).pathname} answered with malformed JSON`, response.status);
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
