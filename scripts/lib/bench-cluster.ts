// The emr, lis and pacs services as the bench and fault runners run them: on their own ports and their own
// databases (`hospital_<service>_<suffix>`, dropped and re-created at the start of a run), so a running demo
// and its data are never touched. Used by scripts/bench.ts, scripts/faults.ts and the fault spec.
import { Client, ClientConfig } from 'pg';
import { type MigrationClass, serviceDatabaseName } from '@hospital/platform';
import { endpointsFromEnv, ensureDatabases, PostgresEndpoint, withPostgresClient } from '../infra/index';
import {
  repositoryRoot,
  serviceEntry,
  serviceEnv,
  twoPhaseServices,
  TwoPhaseServiceName as ServiceName,
} from '../services';
import { ExitInfo, portInUse, ServiceProcess } from './service-process';

export type Log = (line: string) => void;

/** Only the record update's services: the pharmacy's parts are not part of a 2PC run. */
export const serviceNames: readonly ServiceName[] = twoPhaseServices.map((s) => s.name);

export function runDatabaseName(service: ServiceName, suffix: string): string {
  return serviceDatabaseName(service, suffix);
}

export function postgresEndpoint(): PostgresEndpoint {
  return endpointsFromEnv().postgres;
}

export function clientConfig(database: string, endpoint = postgresEndpoint()): ClientConfig {
  return {
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    password: endpoint.password,
    database,
    connectionTimeoutMillis: 5_000,
    application_name: 'hospital-bench',
  };
}

/** Runs `work` with a fresh connection to `database`, closed afterwards. */
export function withClient<T>(database: string, work: (client: Client) => Promise<T>): Promise<T> {
  return withPostgresClient(postgresEndpoint(), database, work, 'hospital-bench');
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const quoteLiteral = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/**
 * Drops and re-creates the run's three databases and migrates them. Prepared transactions left in them by
 * an interrupted run are rolled back first (PostgreSQL refuses to drop a database that holds any).
 */
export async function recreateRunDatabases(suffix: string, log: Log): Promise<void> {
  await recreateDatabases(
    twoPhaseServices.map((s) => ({ database: runDatabaseName(s.name, suffix), migrations: s.migrations })),
    log,
  );
}

/** Drops, re-creates and migrates these databases, rolling back what an interrupted run left prepared. */
export async function recreateDatabases(
  databases: { database: string; migrations: readonly MigrationClass[] }[],
  log: Log,
): Promise<void> {
  const names = databases.map((d) => d.database);
  const existing = await withClient('postgres', async (admin) => {
    const rows = await admin.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datname = ANY($1)',
      [names],
    );
    return rows.rows.map((r) => r.datname);
  });
  for (const database of existing) {
    await withClient(database, async (client) => {
      const prepared = await client.query<{ gid: string }>(
        'SELECT gid FROM pg_prepared_xacts WHERE database = current_database()',
      );
      for (const { gid } of prepared.rows) await client.query(`ROLLBACK PREPARED ${quoteLiteral(gid)}`);
      if (prepared.rows.length > 0)
        log(`${database}: rolled back ${prepared.rows.length} leftover prepared transaction(s)`);
    });
    await withClient('postgres', (admin) =>
      admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`),
    );
  }
  await ensureDatabases(endpointsFromEnv(), databases, () => undefined);
  log(`fresh databases ${names.join(', ')}`);
}

export interface ClusterOptions {
  /** Database suffix: the services use `hospital_<service>_<suffix>`. */
  suffix: string;
  /** emr listens on portBase + 1, lis on portBase + 2, pacs on portBase + 3 (the registry's order). */
  portBase: number;
  /** Environment for every service (LOG_LEVEL, TX_* time-outs…). */
  env?: Record<string, string | undefined>;
  /** Options for node running each service (e.g. `--cpu-prof`). */
  execArgv?: readonly string[];
  readyTimeoutMs?: number;
  log?: Log;
}

/** The three services of a run, started, stopped and killed by name. */
export class ServiceCluster {
  private readonly running = new Map<ServiceName, ServiceProcess>();

  constructor(private readonly options: ClusterOptions) {}

  port(name: ServiceName): number {
    return this.options.portBase + 1 + serviceNames.indexOf(name);
  }

  url(name: ServiceName): string {
    return `http://127.0.0.1:${this.port(name)}`;
  }

  /**
   * Fails when any of the run's ports is taken: another run of the same kind is going on (or left a
   * service behind), and its databases must not be re-created under it.
   */
  async assertPortsFree(): Promise<void> {
    const taken: string[] = [];
    for (const name of serviceNames)
      if (await portInUse(this.port(name))) taken.push(`${this.port(name)} (${name})`);
    if (taken.length > 0) {
      throw new Error(
        `port(s) ${taken.join(', ')} already in use: another ${this.options.suffix} run is going on, or left services behind`,
      );
    }
  }

  get(name: ServiceName): ServiceProcess {
    const service = this.running.get(name);
    if (!service) throw new Error(`${name} is not running`);
    return service;
  }

  isRunning(name: ServiceName): boolean {
    return this.running.get(name)?.alive === true;
  }

  /** Starts one service (extra variables such as FAULT_KILL_AT on top of the cluster's) and waits until ready. */
  async start(name: ServiceName, extra: Record<string, string | undefined> = {}): Promise<ServiceProcess> {
    if (this.isRunning(name)) throw new Error(`${name} is already running`);
    const peers = Object.fromEntries(serviceNames.map((s) => [`${s.toUpperCase()}_URL`, this.url(s)]));
    const env = serviceEnv(name, {
      ...peers,
      PORT: String(this.port(name)),
      HOST: '127.0.0.1',
      PGDATABASE: runDatabaseName(name, this.options.suffix),
      FAULT_KILL_AT: undefined,
      ...this.options.env,
      ...extra,
    });
    const service = await ServiceProcess.start({
      name,
      entry: serviceEntry(name),
      execArgv: this.options.execArgv,
      env,
      port: this.port(name),
      cwd: repositoryRoot(),
      readyTimeoutMs: this.options.readyTimeoutMs,
    });
    this.running.set(name, service);
    return service;
  }

  /** Starts every service not running yet, side by side. */
  async startAll(): Promise<void> {
    await Promise.all(serviceNames.filter((s) => !this.isRunning(s)).map((s) => this.start(s)));
  }

  /** Graceful stop (SIGTERM); resolves with the exit. */
  async stop(name: ServiceName): Promise<ExitInfo | undefined> {
    const service = this.running.get(name);
    this.running.delete(name);
    return service?.stop();
  }

  /** Forgets a service that died on its own (the fault runner's victim) and returns its exit. */
  forget(name: ServiceName): ExitInfo | undefined {
    const service = this.running.get(name);
    this.running.delete(name);
    return service?.exit;
  }

  async stopAll(): Promise<void> {
    await Promise.all(serviceNames.map((s) => this.stop(s)));
  }
}
