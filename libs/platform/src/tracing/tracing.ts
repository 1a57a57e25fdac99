import { context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { otlpTracesUrl, type TracingEnvironment } from './tracing.environment';

/** Nest token of the service's `ServiceTracing` (provided by `PlatformModule`). */
export const SERVICE_TRACING = Symbol('SERVICE_TRACING');

/** A service's hold on the process's tracer provider. */
export interface ServiceTracing {
  /** `service.name` of every span the process makes. */
  readonly serviceName: string;
  /** Where ended spans are sent (OTLP/HTTP, JSON), or undefined when they are not exported. */
  readonly exportUrl: string | undefined;
  /** Sends every ended span not sent yet (nothing when spans are not exported). */
  flush(): Promise<void>;
  /** Lets go of the provider: the last service of the process to let go shuts it down, flushing it first. */
  release(): Promise<void>;
}

/**
 * Where the provider's spans go: a batching OTLP/HTTP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (or `exporter` is given, in specs); none otherwise.
 */
export function tracingProcessors(env: TracingEnvironment, exporter?: SpanExporter): SpanProcessor[] {
  const url = otlpTracesUrl(env);
  if (exporter !== undefined) return [new BatchSpanProcessor(exporter)];
  return url === undefined ? [] : [new BatchSpanProcessor(new OTLPTraceExporter({ url }))];
}

interface Running {
  provider: NodeTracerProvider;
  serviceName: string;
  exportUrl: string | undefined;
  users: number;
}

/** The process's provider while some service holds it. */
let running: Running | undefined;

/**
 * Starts the process's tracer provider, or joins the one already running: one `NodeTracerProvider` per
 * process, registered with OpenTelemetry's API together with the AsyncLocalStorage context manager and
 * the W3C trace-context propagator (`traceparent`; no baggage: it would carry whatever a caller put in
 * it). Its spans name the service that started it. A service runs alone in its process; only specs run
 * several in one, and their spans then all carry the first one's name.
 */
export function startTracing(
  serviceName: string,
  env: TracingEnvironment,
  options: { exporter?: SpanExporter } = {},
): ServiceTracing {
  running ??= register(serviceName, env, options.exporter);
  const held = running;
  held.users += 1;
  let released = false;
  return {
    serviceName: held.serviceName,
    exportUrl: held.exportUrl,
    flush: () => held.provider.forceFlush(),
    release: async () => {
      if (released) return;
      released = true;
      held.users -= 1;
      if (held.users > 0) return held.provider.forceFlush();
      if (running === held) running = undefined;
      // Unregistered first, so that a provider started next in this process registers afresh.
      trace.disable();
      propagation.disable();
      context.disable();
      await held.provider.shutdown();
    },
  };
}

function register(serviceName: string, env: TracingEnvironment, exporter?: SpanExporter): Running {
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': serviceName })),
    spanProcessors: tracingProcessors(env, exporter),
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  return { provider, serviceName, exportUrl: otlpTracesUrl(env), users: 0 };
}
