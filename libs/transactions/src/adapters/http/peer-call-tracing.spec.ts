import { once } from 'node:events';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { startTracing, ServiceTracing } from '@hospital/platform';
import { context, type Context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-node';
import { callPeer, PeerPools } from './http-json';

/** Every span the process's provider ended, kept as they were exported. */
const exported: ReadableSpan[] = [];
const exporter: SpanExporter = {
  export: (spans, done) => {
    exported.push(...spans);
    done({ code: ExportResultCode.SUCCESS });
  },
  shutdown: () => Promise.resolve(),
};

let tracing: ServiceTracing;
let server: Server;
let base = '';
let pools: PeerPools;
/** The `traceparent` of each request the peer got, and what it answers next. */
const received: (string | undefined)[] = [];
let status = 200;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    received.push(req.headers.traceparent as string | undefined);
    req.resume();
    req.on('end', () => res.writeHead(status, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  exported.length = 0;
  received.length = 0;
  status = 200;
  pools = new PeerPools();
  tracing = startTracing('ward-orders', {}, { exporter });
});

afterEach(async () => {
  await pools.close();
  await tracing.release();
});

/** The spans ended so far, once the provider sent them. */
async function spans(): Promise<ReadableSpan[]> {
  await tracing.flush();
  return exported;
}

const request = (callers?: readonly Context[]) =>
  callPeer(`${base}/internal/2pc/0b4e-gtid/outcome?patient=pat-4711`, '0b4e-gtid', {
    timeoutMs: 2_000,
    body: { patient: 'pat-4711' },
    pools,
    route: '/internal/2pc/:gtid/outcome',
    ...(callers ? { callers } : {}),
  });

describe('callPeer trace spans', () => {
  it('makes each call a CLIENT span of the active one, sending its traceparent', async () => {
    const parent = trace.getTracer('spec').startSpan('POST /api/ward-orders/:patient');
    await context.with(trace.setSpan(ROOT_CONTEXT, parent), () => request());
    parent.end();

    const [call] = (await spans()).filter((s) => s.kind === SpanKind.CLIENT);
    expect(call?.name).toBe('POST /internal/2pc/:gtid/outcome');
    expect(call?.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(call?.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(received).toEqual([`00-${call?.spanContext().traceId}-${call?.spanContext().spanId}-01`]);
    // The route template and the peer, never the path, the query or the body.
    expect(call?.attributes).toEqual({
      'http.request.method': 'POST',
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(base).port),
      'url.template': '/internal/2pc/:gtid/outcome',
      'http.response.status_code': 200,
    });
    expect(call?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('marks a refused call in error with its status alone', async () => {
    status = 503;
    await expect(request()).rejects.toThrow('answered 503');
    const [call] = await spans();
    expect(call?.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(call?.attributes).toMatchObject({ 'http.response.status_code': 503, 'error.type': '503' });
    expect(JSON.stringify(call?.attributes)).not.toContain('0b4e-gtid');
  });

  it('puts a batch in the trace of the one transaction it carries, whatever context sends it', async () => {
    const caller = trace.getTracer('spec').startSpan('caller');
    const callerContext = trace.setSpan(ROOT_CONTEXT, caller);
    const elsewhere = trace.getTracer('spec').startSpan('another transaction');
    await context.with(trace.setSpan(ROOT_CONTEXT, elsewhere), () => request([callerContext, callerContext]));

    const [call] = await spans();
    expect(call?.spanContext().traceId).toBe(caller.spanContext().traceId);
    expect(call?.parentSpanContext?.spanId).toBe(caller.spanContext().spanId);
    expect(call?.links).toEqual([]);
  });

  it('starts a trace of its own for a batch of several transactions, linked to each', async () => {
    const [a, b] = ['a', 'b'].map((name) => trace.getTracer('spec').startSpan(name));
    await request([trace.setSpan(ROOT_CONTEXT, a), trace.setSpan(ROOT_CONTEXT, b)]);

    const [call] = await spans();
    expect(call?.parentSpanContext).toBeUndefined();
    expect([a, b].map((s) => s.spanContext().traceId)).not.toContain(call?.spanContext().traceId);
    expect(call?.links.map((l) => l.context.spanId)).toEqual([a, b].map((s) => s.spanContext().spanId));
    expect(received[0]).toContain(call?.spanContext().traceId);
  });

  it('sends no traceparent when no provider runs', async () => {
    await tracing.release();
    await request();
    expect(received).toEqual([undefined]);
    tracing = startTracing('ward-orders', {}, { exporter });
  });
});
