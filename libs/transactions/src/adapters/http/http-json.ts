import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
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
  /**
   * The route template called (`/internal/2pc/:gtid/outcome`): it names the call's trace span. Never a
   * path with ids in it. Without it the span is named after the method alone.
   */
  route?: string;
  /**
   * The trace contexts of the calls this one carries, for a coalesced batch: with one (or all in one
   * span), the call's span is that caller's child; with several, it starts a trace of its own, linked to
   * each caller's span. Default: the active context.
   */
  callers?: readonly Context[];
}

const TRACER = '@hospital/transactions';

/** The parent of a call's span, and its links: see `PeerCallOptions.callers`. */
function spanParent(callers: readonly Context[] | undefined): { parent: Context; links: Link[] } {
  if (callers === undefined) return { parent: context.active(), links: [] };
  const spans = new Map<string, { caller: Context; link: Link }>();
  for (const caller of callers) {
    const spanContext = trace.getSpanContext(caller);
    if (spanContext !== undefined && isSpanContextValid(spanContext))
      spans.set(spanContext.spanId, { caller, link: { context: spanContext } });
  }
  const [only, ...more] = [...spans.values()];
  if (only === undefined) return { parent: ROOT_CONTEXT, links: [] };
  if (more.length === 0) return { parent: only.caller, links: [] };
  return { parent: ROOT_CONTEXT, links: [only, ...more].map((s) => s.link) };
}

/**
 * Starts the CLIENT span of a call to `target` and writes its `traceparent` into `headers`, so the
 * called service's span joins the trace. Attributes: method, the peer's host and port, the route template
 * given; never the path or the query, which may carry ids.
 */
function startCallSpan(
  target: URL,
  method: string,
  headers: Record<string, string>,
  options: PeerCallOptions,
): Span {
  const { parent, links } = spanParent(options.callers);
  const attributes: Attributes = {
    'http.request.method': method,
    'server.address': target.hostname,
    'server.port': Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
  };
  if (options.route !== undefined) attributes['url.template'] = options.route;
  const name = options.route === undefined ? method : `${method} ${options.route}`;
  const span = trace.getTracer(TRACER).startSpan(name, { kind: SpanKind.CLIENT, attributes, links }, parent);
  propagation.inject(trace.setSpan(parent, span), headers);
  return span;
}

/** Ends a call's span with its answer's status, or its failure's kind (never its message: it names the path). */
function endCallSpan(span: Span, status: number | undefined, error?: unknown): void {
  if (status !== undefined && status > 0) span.setAttribute('http.response.status_code', status);
  if (error !== undefined) {
    const code = (error as { cause?: { code?: unknown } }).cause?.code;
    span.setAttribute(
      'error.type',
      status !== undefined && status >= 400
        ? String(status)
        : typeof code === 'string'
          ? code
          : 'PeerCallError',
    );
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/**
 * POSTs or GETs JSON to a peer service (`http` or `https`) with the gtid header (none for a call that
 * belongs to no global transaction, such as a look-up before one starts) and time-outs; returns
 * the parsed body (`undefined` for an empty one). Runs on undici through one keep-alive pool per peer
 * origin, reading the answer straight from the connection: a protocol call is small and frequent (four
 * per 2PC transaction), so it pays for no stream or intermediate objects. Each call is a CLIENT trace
 * span, and carries its `traceparent` (see `PeerCallOptions.route` and `callers`).
 */
export function callPeer(url: string, gtid: string | undefined, options: PeerCallOptions): Promise<unknown> {
  const target = new URL(url);
  const pools = options.pools ?? peerPools;
  const method = options.method ?? 'POST';
  const payload = options.body === undefined ? null : JSON.stringify(options.body);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (gtid !== undefined) headers[GTID_HEADER] = gtid;
  if (payload !== null) headers['content-type'] = 'application/json';
  if (options.headers) Object.assign(headers, options.headers);
  const span = startCallSpan(target, method, headers, options);
  let answer: JsonAnswer | undefined;
  return new Promise<unknown>((resolve, reject) => {
    answer = new JsonAnswer(
      target.pathname,
      options.timeoutMs,
      options.maxResponseBytes ?? pools.maxResponseBytes,
      resolve,
      reject,
    );
    pools.for(target.origin).dispatch(
      {
        path: `${target.pathname}${target.search}`,
        method,
        headers,
        body: payload,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      },
      answer,
    );
  }).then(
    (body) => {
      endCallSpan(span, answer?.status);
      return body;
    },
    (error: unknown) => {
      endCallSpan(span, error instanceof PeerCallError ? error.status : answer?.status, error);
      throw error;
    },
  );
}

/** Error codes of undici's time-outs. */
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const CONNECT_TIMEOUT_CODE = 'UND_ERR_CONNECT_TIMEOUT';

/** Collects one answer as it arrives and settles the call with its parsed JSON or a PeerCallError. */
class JsonAnswer implements Dispatcher.DispatchHandler {
  /** The answer's status code, 0 until its headers arrive. */
  status = 0;
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
