import {
  context,
  type Context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { Request, Response } from 'express';

/** The span attribute naming the global transaction a span started (set by the transaction observer). */
export const GTID_ATTRIBUTE = 'hospital.gtid';

const TRACER = '@hospital/platform';

/** The trace id of the active span (32 hex digits), or undefined outside any trace. */
export function activeTraceId(): string | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext !== undefined && isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}

/** Marks the active span (the request that started it) with the gtid of the global transaction it started. */
export function markGlobalTransaction(gtid: string): void {
  trace.getActiveSpan()?.setAttribute(GTID_ATTRIBUTE, gtid);
}

/** Probes and scrapes: not worth a trace each. */
const UNTRACED = /^\/(health\/|metrics$)/;

/**
 * Starts the SERVER span of an incoming request and returns the context to run its handler in: the
 * span's parent is the caller's `traceparent` (a new trace without one). Named `<METHOD> <route
 * template>` once the route is known (`POST /internal/2pc/batch`), never after the URL: paths carry ids and
 * query strings may name a patient. Attributes: method, route template, status code; nothing of the
 * request's headers, parameters or body. Ends when the response is sent (or the connection closes).
 */
export function serverSpanContext(req: Request, res: Response): Context {
  if (UNTRACED.test(req.path)) return context.active();
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  const span = trace
    .getTracer(TRACER)
    .startSpan(
      req.method,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method } },
      parent,
    );
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    const route = (req.route as { path?: unknown } | undefined)?.path;
    if (typeof route === 'string') {
      span.updateName(`${req.method} ${route}`);
      span.setAttribute('http.route', route);
    }
    if (res.headersSent) span.setAttribute('http.response.status_code', res.statusCode);
    // A server span is in error for a 5xx only: a 4xx is the client's (OpenTelemetry's HTTP conventions).
    if (res.statusCode >= 500 || !res.writableFinished)
      span.setStatus({ code: SpanStatusCode.ERROR, ...(res.writableFinished ? {} : { message: 'aborted' }) });
    span.end();
  };
  res.once('finish', end);
  res.once('close', end);
  return trace.setSpan(parent, span);
}
