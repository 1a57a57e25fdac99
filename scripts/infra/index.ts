// Makes sure PostgreSQL, Redis, RabbitMQ and Mosquitto answer, PostgreSQL is configured for the platform, and every
// service's database exists and is migrated. Idempotent and quick when everything is ready already.
import { databaseName, ownsDatabase, services, ServiceDefinition } from '../services';
import {
  BackingService,
  backingServices,
  displayName,
  describeEndpoint,
  Endpoints,
  endpointsFromEnv,
} from './endpoints';
import { Log, startService } from './control';
import { ensureDatabases, ensurePostgresSettings, DatabaseOutcome } from './postgres';
import { probe } from './probes';
import { ensureOrthanc } from './orthanc';

export * from './endpoints';
export * from './control';
export * from './probes';
export * from './orthanc';
export { formatCommand, runCommand } from './exec';
export {
  ensureDatabases,
  ensurePostgresSettings,
  requiredSettings,
  withClient as withPostgresClient,
} from './postgres';
export type { DatabaseOutcome, DatabaseTarget, RequiredSetting } from './postgres';

export interface EnsureOptions {
  /** Progress lines (the scripts print them on stderr). Silent by default. */
  log?: Log;
  /** Services whose databases to create and migrate; every registered service by default. */
  services?: readonly ServiceDefinition[];
  /** Defaults to the environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, REDIS_URL, AMQP_URL). */
  endpoints?: Endpoints;
}

export interface InfrastructureReport {
  /** Backing services that were down and have been started. */
  started: BackingService[];
  /** PostgreSQL settings raised (the cluster was restarted once for them). */
  changedSettings: string[];
  databases: DatabaseOutcome[];
  elapsedMs: number;
}

export async function ensureInfrastructure(options: EnsureOptions = {}): Promise<InfrastructureReport> {
  const began = Date.now();
  const log = options.log ?? (() => undefined);
  const endpoints = options.endpoints ?? endpointsFromEnv();

  // (a) Every service answers a real connection, or is started with its own command.
  const probes = await Promise.all(backingServices.map((s) => probe(s, endpoints)));
  const down = backingServices.filter((_, i) => !probes[i].up);
  // Independent services start side by side; RabbitMQ alone takes several seconds. The PACS's archive too.
  await Promise.all([...down.map((s) => startService(s, { log, endpoints })), ensureOrthanc(log)]);

  // (b) Restart-only PostgreSQL settings, with at most one restart.
  const changedSettings = await ensurePostgresSettings(endpoints, log);

  // (c) One database per service, migrated.
  const targets = (options.services ?? services).filter(ownsDatabase).map((s) => ({
    database: databaseName(s.name),
    migrations: s.migrations,
  }));
  const databases = await ensureDatabases(endpoints, targets, log);

  const elapsedMs = Date.now() - began;
  const ready = backingServices.map((s) => `${displayName[s]} ${describeEndpoint(s, endpoints)}`).join(', ');
  const migrated = databases.reduce((n, d) => n + d.applied.length, 0);
  log(
    `infrastructure ready in ${elapsedMs} ms: ${ready}; databases ${databases.map((d) => d.database).join(', ')}` +
      ` (${migrated} migration(s) applied)`,
  );
  return { started: down, changedSettings, databases, elapsedMs };
}
