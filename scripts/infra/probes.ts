// Real connections, not port checks: a server that accepts TCP but cannot yet serve (PostgreSQL starting up,
// Redis loading, RabbitMQ booting its applications) counts as down.
import { connect as amqpConnect } from 'amqplib';
import { connectAsync as mqttConnect } from 'mqtt';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { BackingService, Endpoints, PostgresEndpoint } from './endpoints';

export type Probe = { up: true } | { up: false; reason: string };

const errorText = (error: unknown): string => {
  if (error instanceof AggregateError && error.errors.length > 0) return errorText(error.errors[0]);
  if (error instanceof Error) return error.message || error.name;
  return String(error);
};

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export async function probePostgres(endpoint: PostgresEndpoint, timeoutMs = 1500): Promise<Probe> {
  const client = new Client({ ...endpoint, database: 'postgres', connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await withTimeout(
      (async () => {
        await client.connect();
        await client.query('SELECT 1');
      })(),
      timeoutMs,
      'PostgreSQL',
    );
    return { up: true };
  } catch (error) {
    return { up: false, reason: errorText(error) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function probeRedis(url: string, timeoutMs = 1500): Promise<Probe> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // ioredis reports the socket error as an event and rejects with a generic "Connection is closed".
  let socketError: unknown;
  redis.on('error', (error) => {
    socketError ??= error;
  });
  try {
    await withTimeout(
      (async () => {
        await redis.connect();
        await redis.ping();
      })(),
      timeoutMs,
      'Redis',
    );
    return { up: true };
  } catch (error) {
    return { up: false, reason: errorText(socketError ?? error) };
  } finally {
    redis.disconnect();
  }
}

export async function probeRabbitMq(url: string, timeoutMs = 3000): Promise<Probe> {
  const connecting = amqpConnect(url, { timeout: timeoutMs });
  try {
    const connection = await withTimeout(connecting, timeoutMs, 'RabbitMQ');
    connection.on('error', () => undefined);
    await connection.close().catch(() => undefined);
    return { up: true };
  } catch (error) {
    // A connection that completes after the time-out must still be closed.
    connecting.then((late) => late.close().catch(() => undefined)).catch(() => undefined);
    return { up: false, reason: errorText(error) };
  }
}

export async function probeMqtt(url: string, timeoutMs = 1500): Promise<Probe> {
  try {
    const client = await withTimeout(
      mqttConnect(url, { connectTimeout: timeoutMs, reconnectPeriod: 0 }),
      timeoutMs,
      'Mosquitto',
    );
    await client.endAsync().catch(() => undefined);
    return { up: true };
  } catch (error) {
    return { up: false, reason: errorText(error) };
  }
}

export function probe(service: BackingService, endpoints: Endpoints): Promise<Probe> {
  switch (service) {
    case 'postgres':
      return probePostgres(endpoints.postgres);
    case 'redis':
      return probeRedis(endpoints.redis.url);
    case 'rabbitmq':
      return probeRabbitMq(endpoints.rabbitmq.url);
    case 'mosquitto':
      return probeMqtt(endpoints.mosquitto.url);
  }
}
