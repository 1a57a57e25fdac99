// Starting and stopping the local PostgreSQL, Redis and RabbitMQ with their own commands.
// The fault runner uses stopService/startService to take a service away and bring it back.
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  BackingService,
  Endpoints,
  describeEndpoint,
  displayName,
  endpointsFromEnv,
  isLocalHost,
} from './endpoints';
import { formatCommand, runCommand, summarizeOutput } from './exec';
import { Probe, probe } from './probes';

/** A step that could not be done; the message is one line naming the piece and the command that failed. */
export class InfrastructureError extends Error {
  override readonly name = 'InfrastructureError';
}

export type Log = (line: string) => void;

export interface ControlOptions {
  log?: Log;
  /** Endpoints to act on; read from the environment (PGHOST, REDIS_URL, AMQP_URL…) by default. */
  endpoints?: Endpoints;
  /** How long to wait for the service to answer (start) or stop answering (stop). */
  timeoutMs?: number;
}

export interface StopOptions extends ControlOptions {
  /**
   * `graceful` (default) lets the service shut down cleanly; `immediate` is as close to a crash as the
   * service's own tooling goes (PostgreSQL `-m immediate`, which skips the shutdown checkpoint).
   */
  mode?: 'graceful' | 'immediate';
}

const startTimeoutMs: Record<BackingService, number> = {
  postgres: 60_000,
  redis: 15_000,
  rabbitmq: 90_000,
  mosquitto: 15_000,
};
const stopTimeoutMs: Record<BackingService, number> = {
  postgres: 60_000,
  redis: 15_000,
  rabbitmq: 60_000,
  mosquitto: 15_000,
};

const silent: Log = () => undefined;

/**
 * The Debian PostgreSQL cluster to drive, as `[version, name]`: PGCLUSTER (`15/main`, postgresql-common's own
 * variable) when set, otherwise the `main` cluster whose configuration serves `port` (the newest if none does).
 */
export function postgresCluster(port: number): [version: string, name: string] {
  const configured = process.env.PGCLUSTER;
  if (configured) {
    const match = /^([^/\s]+)\/([^/\s]+)$/.exec(configured);
    if (!match)
      throw new InfrastructureError(
        `PGCLUSTER=${configured} is not of the form <version>/<cluster>, e.g. 15/main`,
      );
    return [match[1], match[2]];
  }
  const root = '/etc/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'main', 'postgresql.conf')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new InfrastructureError(
      `No PostgreSQL cluster found under ${root}/<version>/main; install PostgreSQL (apt-get install postgresql) or point PGHOST at a server`,
    );
  }
  const onPort = versions.find((v) => {
    const conf = readFileSync(join(root, v, 'main', 'postgresql.conf'), 'utf8');
    const match = /^\s*port\s*=\s*(\d+)/m.exec(conf);
    return Number(match?.[1] ?? 5432) === port;
  });
  return [onPort ?? versions[0], 'main'];
}

export function postgresClusterCommand(
  action: 'start' | 'stop' | 'restart',
  port: number,
  extra: string[] = [],
): string[] {
  return ['pg_ctlcluster', '--skip-systemctl-redirect', ...postgresCluster(port), action, ...extra];
}

/** The command that starts `service`, as the platform's operations guide gives it. */
export function startCommand(service: BackingService, endpoints: Endpoints): string[] {
  switch (service) {
    case 'postgres':
      return postgresClusterCommand('start', endpoints.postgres.port);
    case 'redis':
      return [
        'redis-server',
        '--daemonize',
        'yes',
        '--bind',
        '127.0.0.1',
        '-::1',
        '--port',
        String(endpoints.redis.port),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        '/var/lib/redis',
        '--logfile',
        '/var/log/redis/ci.log',
      ];
    case 'rabbitmq':
      return ['rabbitmq-server', '-detached'];
    case 'mosquitto':
      return ['mosquitto', '-d', '-c', '/etc/mosquitto/mosquitto.conf'];
  }
}

/** The command that stops `service`. */
export function stopCommand(
  service: BackingService,
  endpoints: Endpoints,
  mode: StopOptions['mode'] = 'graceful',
): string[] {
  switch (service) {
    case 'postgres':
      return postgresClusterCommand(
        'stop',
        endpoints.postgres.port,
        mode === 'immediate' ? ['-m', 'immediate'] : [],
      );
    case 'redis': {
      const { host, port } = endpoints.redis;
      return ['redis-cli', '-h', host, '-p', String(port), 'shutdown', 'nosave'];
    }
    case 'rabbitmq':
      return ['rabbitmqctl', 'stop'];
    case 'mosquitto':
      return ['pkill', '-x', mode === 'immediate' ? '-KILL' : '-TERM', 'mosquitto'];
  }
}

function requireLocal(service: BackingService, endpoints: Endpoints, action: string, reason?: string): void {
  if (isLocalHost(endpoints[service].host)) return;
  const state = reason ? ` is not reachable on ${describeEndpoint(service, endpoints)} (${reason});` : '';
  throw new InfrastructureError(
    `${displayName[service]}${state} it runs on another host (${endpoints[service].host}), so it cannot be ${action} from here`,
  );
}

/** Polls until the service answers (`up`) or stops answering; resolves with the last probe. */
export async function waitForService(
  service: BackingService,
  state: 'up' | 'down',
  timeoutMs: number,
  endpoints: Endpoints = endpointsFromEnv(),
): Promise<Probe> {
  const deadline = Date.now() + timeoutMs;
  let delay = 100;
  for (;;) {
    const last = await probe(service, endpoints);
    if (last.up === (state === 'up') || Date.now() >= deadline) return last;
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 1000);
  }
}

/**
 * Starts a local service with its own command and waits (bounded) until it answers a real connection.
 * A service that already answers is left alone.
 */
export async function startService(service: BackingService, options: ControlOptions = {}): Promise<void> {
  const log = options.log ?? silent;
  const endpoints = options.endpoints ?? endpointsFromEnv();
  const where = describeEndpoint(service, endpoints);
  const before = await probe(service, endpoints);
  if (before.up) return;
  requireLocal(service, endpoints, 'started', before.reason);
  const argv = startCommand(service, endpoints);
  const command = formatCommand(argv);
  if (service === 'redis') {
    mkdirSync('/var/lib/redis', { recursive: true });
    mkdirSync('/var/log/redis', { recursive: true });
  }
  log(`${displayName[service]} is not answering on ${where} (${before.reason}); starting it: ${command}`);
  const started = Date.now();
  const result = await runCommand(argv, startTimeoutMs[service]);
  if (result.code !== 0) {
    // "already running" is not a failure if the service answers after all (it may have been starting).
    const after = await waitForService(service, 'up', 2_000, endpoints);
    if (!after.up) {
      throw new InfrastructureError(
        `${displayName[service]} is not reachable on ${where} and \`${command}\` failed: ${summarizeOutput(result.output)}`,
      );
    }
  }
  const timeoutMs = options.timeoutMs ?? startTimeoutMs[service];
  const after = await waitForService(service, 'up', timeoutMs, endpoints);
  if (!after.up) {
    throw new InfrastructureError(
      `${displayName[service]} was started with \`${command}\` but does not answer on ${where} after ${Math.round(timeoutMs / 1000)} s: ${after.reason}`,
    );
  }
  log(`${displayName[service]} is up on ${where} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** Stops a local service with its own command and waits (bounded) until it no longer answers. */
export async function stopService(service: BackingService, options: StopOptions = {}): Promise<void> {
  const log = options.log ?? silent;
  const endpoints = options.endpoints ?? endpointsFromEnv();
  const where = describeEndpoint(service, endpoints);
  requireLocal(service, endpoints, 'stopped');
  const argv = stopCommand(service, endpoints, options.mode);
  const command = formatCommand(argv);
  log(`stopping ${displayName[service]} on ${where}: ${command}`);
  const result = await runCommand(argv, stopTimeoutMs[service]);
  const timeoutMs = options.timeoutMs ?? stopTimeoutMs[service];
  const after = await waitForService(service, 'down', result.code === 0 ? timeoutMs : 1_000, endpoints);
  if (after.up) {
    const why =
      result.code === 0
        ? `still answers after ${Math.round(timeoutMs / 1000)} s`
        : summarizeOutput(result.output);
    throw new InfrastructureError(
      `${displayName[service]} on ${where} could not be stopped: \`${command}\` ${why}`,
    );
  }
  log(`${displayName[service]} stopped`);
}

/** Restarts the local PostgreSQL cluster (for restart-only settings); `rollback` runs if it will not come back. */
export async function restartPostgres(
  options: ControlOptions & { rollback?: () => void | Promise<void> } = {},
): Promise<void> {
  const log = options.log ?? silent;
  const endpoints = options.endpoints ?? endpointsFromEnv();
  const where = describeEndpoint('postgres', endpoints);
  requireLocal('postgres', endpoints, 'restarted');
  const argv = postgresClusterCommand('restart', endpoints.postgres.port);
  const command = formatCommand(argv);
  log(`restarting PostgreSQL: ${command}`);
  const result = await runCommand(argv, startTimeoutMs.postgres);
  const after =
    result.code === 0
      ? await waitForService('postgres', 'up', options.timeoutMs ?? startTimeoutMs.postgres, endpoints)
      : undefined;
  if (after?.up) return;
  // Never leave PostgreSQL down: undo the change that needed the restart, then start it again.
  const failure = after ? after.reason : summarizeOutput(result.output);
  log(`PostgreSQL did not come back (${failure}); restoring the previous settings and starting it`);
  await options.rollback?.();
  await startService('postgres', { log, endpoints });
  throw new InfrastructureError(
    `PostgreSQL on ${where} did not come back from \`${command}\` (${failure}); the previous settings were restored and it was started again`,
  );
}
