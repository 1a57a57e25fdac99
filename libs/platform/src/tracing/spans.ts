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

/**
 * The W3C `traceparent` of the active span, to carry with a message written now (an outbox row, a
 * message's header); undefined outside any trace.
 */
export function activeTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** A message's CONSUMER span and the context to handle it in. */
export interface ConsumerSpan {
  context: Context;
  /** Ends the span with what became of the message (`applied`, `retry`…); a failure marks it in error. */
  end(outcome: string, failed?: boolean): void;
}

/**
 * Starts the CONSUMER span of a message taken from `queue`: its parent is the `traceparent` the message
 * carried (the request that wrote it), a new trace without one. Named `process <queue>`; attributes: the
 * messaging system, the queue, the message id and type and the gtid; never the payload.
 */
export function startConsumerSpan(
  queue: string,
  message: { id: string; type: string; gtid: string; traceparent?: string },
): ConsumerSpan {
  const parent =
    message.traceparent === undefined
      ? ROOT_CONTEXT
      : propagation.extract(ROOT_CONTEXT, { traceparent: message.traceparent });
  const span = trace.getTracer(TRACER).startSpan(
    `process ${queue}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'rabbitmq',
        'messaging.operation.type': 'process',
        'messaging.destination.name': queue,
        'messaging.message.id': message.id,
        'hospital.message.type': message.type,
        [GTID_ATTRIBUTE]: message.gtid,
      },
    },
    parent,
  );
  return {
    context: trace.setSpan(parent, span),
    end(outcome, failed = false) {
      span.setAttribute('hospital.message.outcome', outcome);
      if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
      span.end();
    },
  };
}
