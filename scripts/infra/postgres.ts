// Server settings the platform needs, and one database per service with its migrations applied.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import type { MigrationClass } from '@hospital/platform';
import type * as MigrationRunner from './migrate';
import { describeEndpoint, Endpoints, isLocalHost, PostgresEndpoint } from './endpoints';
import { InfrastructureError, Log, restartPostgres } from './control';

/** A restart-only server setting: raised to `target` when it is below `minimum`. */
export interface RequiredSetting {
  name: string;
  minimum: number;
  target: number;
  why: string;
}

export const requiredSettings: readonly RequiredSetting[] = [
  // Every 2PC participant vote is a prepared transaction; tests and the demo hold many at once.
  { name: 'max_prepared_transactions', minimum: 100, target: 200, why: 'two-phase commit participants' },
  // Several services × pool size × jest workers, plus the per-suite template copies.
  { name: 'max_connections', minimum: 300, target: 300, why: 'service pools and parallel test suites' },
];

/** Runs `work` with a fresh connection to `database`, closed afterwards (errors on an idle client ignored). */
export async function withClient<T>(
  endpoint: PostgresEndpoint,
  database: string,
  work: (c: Client) => Promise<T>,
  applicationName = 'hospital-infra',
): Promise<T> {
  const client = new Client({
    ...endpoint,
    database,
    connectionTimeoutMillis: 5_000,
    application_name: applicationName,
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * Raises restart-only settings that are too low with ALTER SYSTEM and restarts the cluster once for all of
 * them. Does nothing (and restarts nothing) when every setting already suffices. Returns the changed settings.
 */
export async function ensurePostgresSettings(endpoints: Endpoints, log: Log): Promise<string[]> {
  const endpoint = endpoints.postgres;
  const where = describeEndpoint('postgres', endpoints);
  const { current, dataDirectory, superuser } = await withClient(endpoint, 'postgres', async (client) => {
    const rows = await client.query<{ name: string; setting: string }>(
      'SELECT name, setting FROM pg_settings WHERE name = ANY($1)',
      [requiredSettings.map((s) => s.name)],
    );
    const su = await client.query<{ rolsuper: boolean }>(
      'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
    );
    const dir = su.rows[0]?.rolsuper
      ? (await client.query<{ data_directory: string }>('SHOW data_directory')).rows[0].data_directory
      : undefined;
    return {
      current: new Map(rows.rows.map((r) => [r.name, Number(r.setting)])),
      dataDirectory: dir,
      superuser: su.rows[0]?.rolsuper === true,
    };
  });
  const low = requiredSettings.filter((s) => (current.get(s.name) ?? 0) < s.minimum);
  if (low.length === 0) return [];

  const wanted = low
    .map((s) => `${s.name} = ${s.target} (now ${current.get(s.name) ?? '?'}, for ${s.why})`)
    .join(', ');
  const statements = low.map((s) => `ALTER SYSTEM SET ${s.name} = ${s.target}`);
  if (!superuser || !isLocalHost(endpoint.host)) {
    throw new InfrastructureError(
      `PostgreSQL on ${where} needs ${wanted}; as a superuser run \`${statements.join('; ')}\` and restart the server`,
    );
  }

  // Keep postgresql.auto.conf as it was, so a server that will not start with the new values can be put back.
  const autoConf = dataDirectory ? join(dataDirectory, 'postgresql.auto.conf') : undefined;
  let previous: string | undefined;
  try {
    previous = autoConf ? readFileSync(autoConf, 'utf8') : undefined;
  } catch {
    previous = undefined;
  }
  log(`PostgreSQL needs ${wanted}`);
  await withClient(endpoint, 'postgres', async (client) => {
    for (const statement of statements) {
      try {
        await client.query(statement);
      } catch (error) {
        throw new InfrastructureError(`PostgreSQL on ${where}: \`${statement}\` failed: ${errorText(error)}`);
      }
    }
  });
  await restartPostgres({
    log,
    endpoints,
    rollback: () => {
      if (autoConf && previous !== undefined) writeFileSync(autoConf, previous);
    },
  });
  const after = await withClient(endpoint, 'postgres', async (client) => {
    const rows = await client.query<{ name: string; setting: string }>(
      'SELECT name, setting FROM pg_settings WHERE name = ANY($1)',
      [low.map((s) => s.name)],
    );
    return new Map(rows.rows.map((r) => [r.name, Number(r.setting)]));
  });
  const stillLow = low.filter((s) => (after.get(s.name) ?? 0) < s.minimum);
  if (stillLow.length > 0) {
    const detail = stillLow.map((s) => `${s.name} = ${after.get(s.name)}`).join(', ');
    throw new InfrastructureError(
      `PostgreSQL on ${where} was restarted but still has ${detail}; another configuration file may override postgresql.auto.conf`,
    );
  }
  log(`PostgreSQL restarted with ${low.map((s) => `${s.name} = ${after.get(s.name)}`).join(', ')}`);
  return low.map((s) => s.name);
}

export interface DatabaseTarget {
  /** Database name, `hospital_<service>`. */
  database: string;
  migrations: readonly MigrationClass[];
}

export interface DatabaseOutcome {
  database: string;
  created: boolean;
  /** Names of the migrations this run applied. */
  applied: string[];
}

/**
 * TypeORM takes a third of a second to load, so it is loaded only when there is something to migrate.
 * The specifier is a variable so that the compiled script and jest both resolve it like a require.
 */
async function loadMigrationRunner(): Promise<typeof MigrationRunner> {
  const specifier = './migrate';
  return (await import(specifier)) as typeof MigrationRunner;
}

/** Catches a migration list holding something other than classes (an import that resolved to undefined). */
function checkMigrations(target: DatabaseTarget): void {
  target.migrations.forEach((migration: unknown, index) => {
    if (typeof migration !== 'function') {
      throw new InfrastructureError(
        `${target.database}: migration ${index + 1} of ${target.migrations.length} is ${String(migration)}, not a migration class; check the service's database/migrations/index.ts and what it imports`,
      );
    }
  });
}

function migrationName(migration: MigrationClass): string {
  const instance = new migration();
  return instance.name ?? migration.name;
}

/** Names already recorded in the database's migration table (empty when it has none yet). */
async function appliedMigrations(endpoint: PostgresEndpoint, database: string): Promise<Set<string>> {
  return withClient(endpoint, database, async (client) => {
    const table = await client.query<{ exists: boolean }>(
      `SELECT to_regclass('schema_migrations') IS NOT NULL AS exists`,
    );
    if (!table.rows[0]?.exists) return new Set<string>();
    const rows = await client.query<{ name: string }>('SELECT name FROM schema_migrations');
    return new Set(rows.rows.map((r) => r.name));
  });
}

/**
 * Creates each missing database and applies its pending migrations. Runs under an advisory lock so two
 * scripts preparing the same server at once (a demo and a test run) do not race each other.
 */
export async function ensureDatabases(
  endpoints: Endpoints,
  targets: readonly DatabaseTarget[],
  log: Log,
): Promise<DatabaseOutcome[]> {
  const endpoint = endpoints.postgres;
  const where = describeEndpoint('postgres', endpoints);
  return withClient(endpoint, 'postgres', async (admin) => {
    await admin.query(`SELECT pg_advisory_lock(hashtext('hospital:ensure-databases'))`);
    try {
      const outcomes: DatabaseOutcome[] = [];
      targets.forEach(checkMigrations);
      for (const target of targets) {
        const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [target.database]);
        const created = exists.rowCount === 0;
        if (created) {
          try {
            await admin.query(`CREATE DATABASE ${quoteIdent(target.database)}`);
          } catch (error) {
            throw new InfrastructureError(
              `PostgreSQL on ${where}: \`CREATE DATABASE ${target.database}\` failed: ${errorText(error)}`,
            );
          }
          log(`created database ${target.database}`);
        }
        const done = await appliedMigrations(endpoint, target.database);
        const pending = target.migrations.map(migrationName).filter((name) => !done.has(name));
        let applied: string[] = [];
        if (pending.length > 0) {
          try {
            const { runMigrations } = await loadMigrationRunner();
            applied = await runMigrations({ ...endpoint, database: target.database, poolSize: 1 }, [
              ...target.migrations,
            ]);
          } catch (error) {
            throw new InfrastructureError(
              `migrating database ${target.database} failed: ${errorText(error)}`,
            );
          }
          log(`${target.database}: applied ${applied.length} migration(s): ${applied.join(', ')}`);
        }
        outcomes.push({ database: target.database, created, applied });
      }
      return outcomes;
    } finally {
      await admin
        .query(`SELECT pg_advisory_unlock(hashtext('hospital:ensure-databases'))`)
        .catch(() => undefined);
    }
  });
}
