import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { buildServiceConfig, MessagingEnvironment, ServiceConfigOf, toInt } from '@hospital/platform';

/**
 * The services behind the gateway and their default base URLs (`<NAME>_URL` overrides each). The order
 * is the order of preference where a type is served by several and none is named in PREFERRED_OWNERS.
 */
export const GATEWAY_BACKENDS = {
  emr: 'http://127.0.0.1:3001',
  pharmacy: 'http://127.0.0.1:3004',
  'icu-monitor': 'http://127.0.0.1:3005',
  appointments: 'http://127.0.0.1:3006',
  'care-plans': 'http://127.0.0.1:3007',
  telemedicine: 'http://127.0.0.1:3008',
  audit: 'http://127.0.0.1:3009',
  'pharmacy-supply-chain': 'http://127.0.0.1:3042',
  'referral-inbox': 'http://127.0.0.1:3081',
  'pharmacy-inventory': 'http://127.0.0.1:3041',
} as const;

export type BackendName = keyof typeof GATEWAY_BACKENDS;

/**
 * Backends without a FHIR API (the inventory serves stock as plain JSON): reached only through
 * `/api/<service>/…`, never asked for a CapabilityStatement and never an owner of a FHIR type.
 */
export const API_ONLY_BACKENDS: ReadonlySet<BackendName> = new Set<BackendName>(['pharmacy-inventory']);

const BACKEND_LIST = new RegExp(
  `^\\s*(${Object.keys(GATEWAY_BACKENDS).join('|')})(\\s*,\\s*(${Object.keys(GATEWAY_BACKENDS).join('|')}))*\\s*$`,
);

/** The gateway's own settings: its backends, the proxy's connections and time-outs, the client limits. */
export class GatewayEnvironment {
  /** The backends routed to, by name, separated by commas (default: every one of GATEWAY_BACKENDS). */
  @IsOptional()
  @Matches(BACKEND_LIST, {
    message: `GATEWAY_BACKENDS must name services among ${Object.keys(GATEWAY_BACKENDS).join(', ')}`,
  })
  GATEWAY_BACKENDS?: string;
  /** Keep-alive connections per backend (one undici Pool each). */
  @Transform(toInt) @IsInt() @Min(1) @Max(1024) GATEWAY_CONNECTIONS: number = 32;
  /** How long a backend may take to connect. */
  @Transform(toInt) @IsInt() @Min(50) GATEWAY_CONNECT_TIMEOUT_MS: number = 2_000;
  /** How long a backend may take to send its answer's headers, and then between body chunks. */
  @Transform(toInt) @IsInt() @Min(100) GATEWAY_TIMEOUT_MS: number = 30_000;
  /** How often the backends' CapabilityStatements (the owner table) are fetched again. */
  @Transform(toInt) @IsInt() @Min(1_000) GATEWAY_METADATA_REFRESH_MS: number = 60_000;
  /** Requests a client may make per second on average (token bucket per token subject or address); 0: off. */
  @Transform(toInt) @IsInt() @Min(0) RATE_LIMIT_PER_SECOND: number = 100;
  /** How many requests a client may make at once before the average applies. */
  @Transform(toInt) @IsInt() @Min(1) RATE_LIMIT_BURST: number = 200;
  /** Verified access tokens kept in memory until their expiry, so a client's next request skips the RSA check; 0: off. */
  @Transform(toInt) @IsInt() @Min(0) @Max(1_000_000) GATEWAY_TOKEN_CACHE_ENTRIES: number = 10_000;
  /** Origins a browser app may call from (CORS), separated by commas; empty: none. */
  @Matches(/^\s*$|^\s*https?:\/\/[^\s,]+(\s*,\s*https?:\/\/[^\s,]+)*\s*$/, {
    message: 'CORS_ORIGINS must be http(s) origins separated by commas',
  })
  CORS_ORIGINS: string = '';
  /** The built operations console served at /console/ (default: dist/console of this checkout). */
  @IsOptional() @IsString() CONSOLE_DIR?: string;
}

/** The gateway's settings and RabbitMQ's (AMQP_URL, MESSAGING_NAMESPACE): its refusals' audit records. */
export const GATEWAY_PIECES = [GatewayEnvironment, MessagingEnvironment] as const;

/** The gateway: one FHIR base for the hospital (DESIGN §1, port 8080), in front of GATEWAY_BACKENDS. */
export const GATEWAY_SERVICE = { name: 'gateway', defaultPort: 8080, peers: GATEWAY_BACKENDS };

export type GatewayConfig = ServiceConfigOf<typeof GATEWAY_PIECES>;

export function gatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return buildServiceConfig(GATEWAY_SERVICE, GATEWAY_PIECES, env);
}

/** The backends this gateway routes to, in preference order, with their base URLs. */
export function configuredBackends(
  config: GatewayConfig,
): { name: BackendName; url: string; fhir: boolean }[] {
  const all = Object.keys(GATEWAY_BACKENDS) as BackendName[];
  const chosen =
    config.env.GATEWAY_BACKENDS === undefined
      ? all
      : all.filter((name) => config.env.GATEWAY_BACKENDS?.split(',').some((entry) => entry.trim() === name));
  return chosen.map((name) => ({
    name,
    url: (config.peers[name] ?? GATEWAY_BACKENDS[name]).replace(/\/+$/, ''),
    fhir: !API_ONLY_BACKENDS.has(name),
  }));
}
