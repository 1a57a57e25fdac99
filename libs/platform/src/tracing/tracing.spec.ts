import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-node';
import { ConfigError, loadEnvironment } from '../config/environment';
import { activeTraceId, GTID_ATTRIBUTE, markGlobalTransaction } from './spans';
import { startTracing, tracingProcessors } from './tracing';
import { otlpTracesUrl, TracingEnvironment } from './tracing.environment';

describe('tracing', () => {
  describe('TracingEnvironment', () => {
    it('leaves both variables unset by default: nothing is exported', () => {
      const env = loadEnvironment(TracingEnvironment, {});
      expect(otlpTracesUrl(env)).toBeUndefined();
      expect(tracingProcessors(env)).toEqual([]);
    });

    it('sends spans to <endpoint>/v1/traces, or to the traces endpoint as given, which wins', () => {
      expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318/' })).toBe(
        'http://otel-collector:4318/v1/traces',
      );
      expect(
        otlpTracesUrl({
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.hospital.example/otlp/spans',
        }),
      ).toBe('https://traces.hospital.example/otlp/spans');
    });

    it('exports through one batching processor when an endpoint is set', async () => {
      const env = loadEnvironment(TracingEnvironment, {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      });
      const processors = tracingProcessors(env);
      expect(processors).toHaveLength(1);
      expect(processors[0]).toBeInstanceOf(BatchSpanProcessor);
      await processors[0].shutdown();
    });

    it.each(['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'])(
      'refuses a %s that is not an http(s) URL, naming the variable',
      (variable) => {
        for (const value of ['otel-collector:4318', 'ftp://otel-collector/v1/traces', 'not a url'])
          expect(() => loadEnvironment(TracingEnvironment, { [variable]: value })).toThrow(
            new RegExp(`${variable}=.*must be an http\\(s\\) URL`),
          );
        expect(() => loadEnvironment(TracingEnvironment, { [variable]: 'x' })).toThrow(ConfigError);
      },
    );
  });

  describe('the process tracer provider', () => {
    it('makes spans with trace ids without exporting them, and names the service', async () => {
      const tracing = startTracing('ward-orders', loadEnvironment(TracingEnvironment, {}));
      try {
        expect(tracing.exportUrl).toBeUndefined();
        expect(tracing.serviceName).toBe('ward-orders');
        const span = trace.getTracer('spec').startSpan('POST /api/orders');
        expect(span.isRecording()).toBe(true);
        context.with(trace.setSpan(ROOT_CONTEXT, span), () => {
          expect(activeTraceId()).toBe(span.spanContext().traceId);
          expect(activeTraceId()).toMatch(/^[0-9a-f]{32}$/);
        });
        span.end();
        expect(activeTraceId()).toBeUndefined();
      } finally {
        await tracing.release();
      }
    });

    it('carries the active span across services as a W3C traceparent, and nothing else', async () => {
      const tracing = startTracing('ward-orders', {});
      try {
        const span = trace.getTracer('spec').startSpan('POST /internal/2pc/batch');
        const headers: Record<string, string> = {};
        propagation.inject(trace.setSpan(ROOT_CONTEXT, span), headers);
        const { traceId, spanId } = span.spanContext();
        expect(headers).toEqual({ traceparent: `00-${traceId}-${spanId}-01` });

        const extracted = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, headers));
        expect(extracted).toMatchObject({ traceId, spanId, isRemote: true });
        // The receiving side's span is the caller's child, in the caller's trace.
        const child = trace
          .getTracer('spec')
          .startSpan('server', {}, propagation.extract(ROOT_CONTEXT, headers)) as unknown as {
          parentSpanContext?: { spanId: string };
          spanContext(): { traceId: string };
        };
        expect(child.spanContext().traceId).toBe(traceId);
        expect(child.parentSpanContext?.spanId).toBe(spanId);
        span.end();
      } finally {
        await tracing.release();
      }
    });

    it('is one per process: a second service joins it, and the last to leave shuts it down after a flush', async () => {
      // Keeps what it was sent past shutdown (the SDK's in-memory exporter forgets it then).
      const exported: ReadableSpan[] = [];
      const exporter: SpanExporter = {
        export: (spans, done) => {
          exported.push(...spans);
          done({ code: ExportResultCode.SUCCESS });
        },
        shutdown: () => Promise.resolve(),
      };
      const first = startTracing('emr-a', {}, { exporter });
      const second = startTracing('emr-b', {});
      expect(second.serviceName).toBe('emr-a');
      const span = trace.getTracer('spec').startSpan('work');
      context.with(trace.setSpan(ROOT_CONTEXT, span), () => markGlobalTransaction('gtid-1'));
      span.end();
      await first.release();
      await first.release(); // once only
      expect(trace.getTracer('spec').startSpan('still on').isRecording()).toBe(true);
      await second.release();
      const [finished] = exported;
      expect(finished?.attributes).toEqual({ [GTID_ATTRIBUTE]: 'gtid-1' });
      expect(finished?.resource.attributes['service.name']).toBe('emr-a');
      // Unregistered: spans made now are not recorded, and no traceparent is written.
      expect(trace.getTracer('spec').startSpan('after').isRecording()).toBe(false);
      const headers: Record<string, string> = {};
      propagation.inject(context.active(), headers);
      expect(headers).toEqual({});
    });
  });
});
