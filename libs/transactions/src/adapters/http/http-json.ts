import type { Dispatcher } from 'undici';
import { GTID_HEADER } from '../../core/gtid';
import { peerPools, PeerPools } from './peer-pools';

export { closePeerPools, DEFAULT_MAX_RESPONSE_BYTES, peerPools, PeerPools } from './peer-pools';
export type { PeerPoolOptions } from './peer-pools';

/**
 * Raised when a call to a peer fails: a non-2xx status (`status` set), a body that breaks the contract
 * (malformed JSON, an answer over the size cap), a time-out, or a connection refused or broken.
 */
export class PeerCallError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A call to a peer service. */
export interface PeerCallOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  /**
   * Longest wait for the answer's headers, and between two pieces of its body. undici checks both on a
   * shared timer ticking every half second, so a call fails up to a second after it (and costs no timer).
   */
  timeoutMs: number;
  headers?: Record<string, string>;
  /** Largest answer read; a larger one fails the call. Default: the pools' `maxResponseBytes` (1 MiB). */
  maxResponseBytes?: number;
  /** The connection pools to use; default the process-wide {@link peerPools}. */
  pools?: PeerPools;
}

/**
 * POSTs or GETs JSON to a peer service (`http` or `https`) with the gtid header (none for a call that
 * belongs to no global transaction, such as a look-up before one starts) and time-outs; returns
 * the parsed body (`undefined` for an empty one). Runs on undici through one keep-alive pool per peer
 * origin, reading the answer straight from the connection: a protocol call is small and frequent (four
 * per 2PC transaction), so it pays for no stream or intermediate objects.
 */
export function callPeer(url: string, gtid: string | undefined, options: PeerCallOptions): Promise<unknown> {
  const target = new URL(url);
  const pools = options.pools ?? peerPools;
  const payload = options.body === undefined ? null : JSON.stringify(options.body);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (gtid !== undefined) headers[GTID_HEADER] = gtid;
  if (payload !== null) headers['content-type'] = 'application/json';
  if (options.headers) Object.assign(headers, options.headers);
  return new Promise<unknown>((resolve, reject) => {
    pools.for(target.origin).dispatch(
      {
        path: `${target.pathname}${target.search}`,
        method: options.method ?? 'POST',
        headers,
        body: payload,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      },
      new JsonAnswer(
        target.pathname,
        options.timeoutMs,
        options.maxResponseBytes ?? pools.maxResponseBytes,
        resolve,
        reject,
      ),
    );
  });
}

/** Error codes of undici's time-outs. */
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const CONNECT_TIMEOUT_CODE = 'UND_ERR_CONNECT_TIMEOUT';

/** Collects one answer as it arrives and settles the call with its parsed JSON or a PeerCallError. */
class JsonAnswer implements Dispatcher.DispatchHandler {
  private status = 0;
  private bytes = 0;
  private readonly chunks: Buffer[] = [];

  constructor(
    private readonly path: string,
    private readonly timeoutMs: number,
    private readonly maxBytes: number,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (error: PeerCallError) => void,
  ) {}

  /** Present so undici takes this for a handler of its current interface; nothing to do at the start. */
  onRequestStart(): void {}

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.status = statusCode;
    // A declared length over the cap is refused before a byte of the body is read.
    const length = headers['content-length'];
    if (typeof length === 'string' && Number(length) > this.maxBytes) controller.abort(this.tooLarge());
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      controller.abort(this.tooLarge());
      return;
    }
    // An error status's body is read (so the connection stays reusable) but not kept.
    if (this.status >= 200 && this.status < 300) this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    // undici hands a connection to the next request one event-loop turn after an answer ends (it waits
    // for a peer that would close it anyway), on an immediate it queues once this returns. Settling on an
    // immediate queued after it lets the caller's next call reuse this connection instead of opening
    // another one beside it.
    queueMicrotask(() => setImmediate(settle, this));
  }

  /** Turns the answer read into the call's result. */
  settle(): void {
    const status = this.status;
    if (status < 200 || status >= 300) {
      this.reject(new PeerCallError(`${this.path} answered ${status}`, status));
      return;
    }
    const chunks = this.chunks;
    const text =
      chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks, this.bytes).toString('utf8');
    if (text === '') {
      this.resolve(undefined);
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      this.reject(new PeerCallError(`${this.path} answered with malformed JSON`, status));
      return;
    }
    this.resolve(body);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.reject(this.describe(error));
  }

  private tooLarge(): PeerCallError {
    return new PeerCallError(`${this.path} answered with more than ${this.maxBytes} bytes`);
  }

  private describe(error: Error): PeerCallError {
    if (error instanceof PeerCallError) return error;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && TIMEOUT_CODES.has(code))
      return new PeerCallError(`${this.path} did not answer within ${this.timeoutMs} ms`, undefined, {
        cause: error,
      });
    if (code === CONNECT_TIMEOUT_CODE)
      return new PeerCallError(`${this.path}: no connection to the peer in time`, undefined, {
        cause: error,
      });
    return new PeerCallError(`${this.path} failed: ${error.message}`, undefined, { cause: error });
  }
}

function settle(answer: JsonAnswer): void {
  answer.settle();
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
