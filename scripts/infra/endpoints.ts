// Where the infrastructure lives, read from the same variables the services read (PGHOST, REDIS_URL, AMQP_URL…).
import { networkInterfaces } from 'node:os';
// The config module alone: the platform's index pulls in Nest and TypeORM, which would triple the start-up time.
import { BaseEnvironment, loadEnvironment } from '@hospital/platform/config/service-config';

export type BackingService = 'postgres' | 'redis' | 'rabbitmq' | 'mosquitto';

export const backingServices: readonly BackingService[] = ['postgres', 'redis', 'rabbitmq', 'mosquitto'];

export const displayName: Record<BackingService, string> = {
  postgres: 'PostgreSQL',
  redis: 'Redis',
  rabbitmq: 'RabbitMQ',
  mosquitto: 'Mosquitto (MQTT)',
};

/** The bedside feed's broker, as the ICU monitor reads it (its own configuration piece, MQTT_URL). */
export const DEFAULT_MQTT_URL = 'mqtt://127.0.0.1:1883';

export interface PostgresEndpoint {
  host: string;
  port: number;
  user: string;
  password?: string;
}

export interface Endpoints {
  postgres: PostgresEndpoint;
  redis: { url: string; host: string; port: number };
  rabbitmq: { url: string; host: string; port: number };
  mosquitto: { url: string; host: string; port: number };
}

function hostAndPort(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  return { host, port: parsed.port ? Number(parsed.port) : defaultPort };
}

export function endpointsFromEnv(env: NodeJS.ProcessEnv = process.env): Endpoints {
  const e = loadEnvironment(BaseEnvironment, env);
  return {
    postgres: { host: e.PGHOST, port: e.PGPORT, user: e.PGUSER, password: e.PGPASSWORD },
    redis: { url: e.REDIS_URL, ...hostAndPort(e.REDIS_URL, 6379) },
    rabbitmq: { url: e.AMQP_URL, ...hostAndPort(e.AMQP_URL, 5672) },
    mosquitto: {
      url: env.MQTT_URL ?? DEFAULT_MQTT_URL,
      ...hostAndPort(env.MQTT_URL ?? DEFAULT_MQTT_URL, 1883),
    },
  };
}

/** `host:port`, or the socket folder for a PostgreSQL unix socket. */
export function describeEndpoint(service: BackingService, endpoints: Endpoints): string {
  const { host, port } = endpoints[service];
  return host.startsWith('/') ? `${host} (socket, port ${port})` : `${host}:${port}`;
}

/** True when the host is this machine, so the scripts may start and stop the service themselves. */
export function isLocalHost(host: string): boolean {
  if (host === '' || host.startsWith('/')) return true; // empty or a unix socket folder
  const normalized = host.toLowerCase();
  if (['localhost', '127.0.0.1', '::1', '0.0.0.0', '::'].includes(normalized)) return true;
  if (/^127\./.test(normalized)) return true;
  return Object.values(networkInterfaces()).some((addresses) =>
    (addresses ?? []).some((a) => a.address.toLowerCase() === normalized),
  );
}
