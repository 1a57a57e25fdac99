import { IsOptional, IsUrl } from 'class-validator';

const OTLP_URL = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };

/**
 * Where a service sends its trace spans (OpenTelemetry's own variable names, so a collector's usual
 * settings apply). Neither set: spans are made, so every request and global transaction has a trace id,
 * but none leaves the process. Part of every service (`PLATFORM_PIECES`).
 */
export class TracingEnvironment {
  /** The OTLP/HTTP base URL of a collector (`http://otel-collector:4318`); spans go to `<it>/v1/traces`. */
  @IsOptional()
  @IsUrl(OTLP_URL, { message: 'OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL' })
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;

  /** The full URL spans are POSTed to, taken as it is; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  @IsOptional()
  @IsUrl(OTLP_URL, { message: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http(s) URL' })
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string;
}

/** The URL spans are exported to, as OpenTelemetry defines it from the two variables; undefined: none. */
export function otlpTracesUrl(env: TracingEnvironment): string | undefined {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT)
    return `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  return undefined;
}
