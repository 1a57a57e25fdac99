// The processes and receivers of a best-effort fault run: the run's own Mosquitto, the ICU monitor, the
// ICU station and appointments as real processes from dist/ on their own ports and databases
// (`hospital_<service>_<suffix>`, dropped and re-created at the start), the SMTP sink and a push gateway
// that never comes back (both in the runner), and a connection to each database. Used by
// scripts/lib/faults-best-effort.ts.
import { Client } from 'pg';
import { serviceDatabaseName } from '@hospital/platform';
import { endpointsFromEnv, ensureDatabases } from '../infra/index';
import { appointmentServices, icuServices, repositoryRoot, serviceEntry, serviceEnv } from '../services';
import { clientConfig, withClient } from './bench-cluster';
import { GatewaySim } from './gateway-sim';
import { SmtpSink } from './smtp-sink';
import {
  BEST_EFFORT_ROLES,
  BestEffortFaultLabOptions,
  BestEffortRole,
  policyEnv,
  Receiver,
  senderPolicies,
  SenderPolicy,
} from './faults-best-effort-plan';
import { MqttBroker } from './mqtt-broker';
import { describeExit, portInUse, ServiceProcess, ServiceStartError } from './service-process';

const SERVICE_OF: Record<BestEffortRole, string> = {
  'icu-monitor': 'icu-monitor',
  'icu-station': 'icu-station',
  appointments: 'appointments',
};
const OFFSET: Record<BestEffortRole, number> = { 'icu-monitor': 1, 'icu-station': 2, appointments: 3 };
/** How ServiceProcess reports a service stopped by a signal while it started. */
const EXTERNAL_STOP = /exited during start-up \(killed by SIG(TERM|INT)\)/;
const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The run's broker, services and receivers, started, stopped and taken down by the trials. */
export class BestEffortCluster {
  private readonly processes = new Map<BestEffortRole, ServiceProcess>();
  private readonly clients = new Map<BestEffortRole, Client>();
  /** Roles the current trial took down on purpose (not restarted by `ensureUp`). */
  readonly down = new Set<BestEffortRole>();
  private readonly externalStops: string[] = [];
  readonly policies: Record<'icu-monitor' | 'appointments', SenderPolicy>;
  readonly broker: MqttBroker;
  readonly sink = new SmtpSink();
  /** The push gateway: answers 503 for good, so every push is dead-lettered once its attempts run out. */
  readonly push = new GatewaySim('/notifications');

  constructor(private readonly options: BestEffortFaultLabOptions) {
    this.policies = senderPolicies(options.downMs);
    this.broker = new MqttBroker({ port: options.mqttPort });
  }

  /** The feed's topic prefix. */
  get prefix(): string {
    return `icu-${this.options.suffix}`;
  }

  url(role: BestEffortRole): string {
    return `http://127.0.0.1:${this.options.portBase + OFFSET[role]}`;
  }

  /** Starts the broker, re-creates the databases, starts the receivers and the services, connects. */
  async open(): Promise<void> {
    const { portBase, suffix } = this.options;
    for (const role of BEST_EFFORT_ROLES)
      if (await portInUse(portBase + OFFSET[role]))
        throw new Error(`port ${portBase + OFFSET[role]} (${role}) is in use: another ${suffix} run?`);
    await this.broker.start();
    await this.recreateDatabases();
    await this.sink.start();
    await this.push.start();
    this.push.failing = true;
    await this.start('icu-monitor');
    await Promise.all([this.start('icu-station'), this.start('appointments')]);
    for (const role of BEST_EFFORT_ROLES) {
      const client = new Client(clientConfig(this.database(role)));
      client.on('error', () => undefined);
      await client.connect();
      this.clients.set(role, client);
    }
  }

  isRunning(role: BestEffortRole): boolean {
    return this.processes.get(role)?.alive === true;
  }

  /** Forgets a process that died on its own. */
  forget(role: BestEffortRole, process: ServiceProcess): boolean {
    if (this.processes.get(role) !== process) return false;
    this.processes.delete(role);
    return true;
  }

  database(role: BestEffortRole): string {
    return serviceDatabaseName(SERVICE_OF[role], this.options.suffix);
  }

  async recreateDatabases(): Promise<void> {
    const targets = [...icuServices, ...appointmentServices].map((s) => ({
      database: serviceDatabaseName(s.name, this.options.suffix),
      migrations: s.migrations,
    }));
    for (const { database } of targets)
      await withClient('postgres', (admin) =>
        admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`),
      );
    await ensureDatabases(endpointsFromEnv(), targets, () => undefined);
    this.options.log?.(`fresh databases ${targets.map((t) => t.database).join(', ')}`);
  }

  /** Starts one service (with extra variables such as FAULT_KILL_AT) and waits until it is ready. */
  async start(role: BestEffortRole, extra: Record<string, string> = {}): Promise<ServiceProcess> {
    const own: Record<BestEffortRole, Record<string, string>> = {
      'icu-monitor': {
        MQTT_URL: this.broker.url,
        MQTT_CLIENT_ID: `icu-monitor-${this.options.suffix}`,
        MQTT_TOPIC_PREFIX: this.prefix,
        ...policyEnv(this.policies['icu-monitor']),
      },
      'icu-station': {},
      appointments: {
        SMTP_URL: this.sink.url,
        SMS_GATEWAY_URL: this.push.url,
        PUSH_GATEWAY_URL: this.push.url,
        CONFIRM_CLINICIAN_CHANNELS: 'email',
        CONFIRM_PATIENT_CHANNELS: 'email,push',
        ...policyEnv(this.policies.appointments),
      },
    };
    const service = SERVICE_OF[role];
    const options = {
      name: role,
      entry: serviceEntry(service),
      env: serviceEnv(service, {
        PORT: String(this.options.portBase + OFFSET[role]),
        HOST: '127.0.0.1',
        PGDATABASE: this.database(role),
        LOG_LEVEL: 'warn',
        ICU_STATION_URL: this.url('icu-station'),
        ICU_MONITOR_URL: this.url('icu-monitor'),
        FAULT_KILL_AT: undefined,
        ...own[role],
        ...extra,
      }),
      port: this.options.portBase + OFFSET[role],
      cwd: repositoryRoot(),
    };
    for (let tries = 1; ; tries++) {
      try {
        const process = await ServiceProcess.start(options);
        this.processes.set(role, process);
        return process;
      } catch (error) {
        // Stopped from outside while it started (this run never signals a starting service): again.
        const outside = error instanceof ServiceStartError && EXTERNAL_STOP.test(error.message);
        if (!outside || tries >= 3) throw error;
        this.externalStops.push(`${role} was stopped by a signal from outside this run while starting`);
      }
    }
  }

  async stop(role: BestEffortRole): Promise<void> {
    const process = this.processes.get(role);
    this.processes.delete(role);
    await process?.stop();
  }

  /** Restarts any service that died outside its fault; a note for each. */
  async ensureUp(): Promise<string[]> {
    const crashes: string[] = [];
    for (const role of BEST_EFFORT_ROLES) {
      if (this.down.has(role) || this.processes.get(role)?.alive) continue;
      const exit = this.processes.get(role)?.exit;
      this.processes.delete(role);
      // This run stops services with SIGTERM only through `stop`, which forgets them first: a SIGTERM or
      // SIGINT seen here came from outside (another run on the machine). A crash is anything else.
      if (exit?.signal === 'SIGTERM' || exit?.signal === 'SIGINT')
        this.externalStops.push(`${role} was stopped by ${exit.signal} from outside this run; restarted`);
      else if (exit) crashes.push(`${role} had exited (${describeExit(exit)}) outside its fault; restarted`);
      await this.start(role);
    }
    return crashes;
  }

  /** Services stopped by a signal this run did not send, since the last call (restarted each time). */
  takeExternalStops(): string[] {
    return this.externalStops.splice(0);
  }

  async takeDown(receiver: Receiver): Promise<void> {
    if (receiver === 'smtp') return this.sink.stop();
    this.down.add('icu-station');
    await this.stop('icu-station');
  }

  async bringUp(receiver: Receiver): Promise<void> {
    if (receiver === 'smtp') return this.sink.start();
    await this.start('icu-station');
    this.down.delete('icu-station');
  }

  async rows<T extends object>(role: BestEffortRole, sql: string, parameters: unknown[] = []): Promise<T[]> {
    const client = this.clients.get(role);
    if (!client) throw new Error(`no connection to ${role}'s database`);
    return (await client.query<T>(sql, parameters)).rows;
  }

  /** The rows of each query, all read in one repeatable-read transaction. */
  async snapshot(role: BestEffortRole, queries: readonly string[]): Promise<object[][]> {
    const client = this.clients.get(role);
    if (!client) throw new Error(`no connection to ${role}'s database`);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const results: object[][] = [];
      for (const sql of queries) results.push((await client.query<object>(sql)).rows);
      return results;
    } finally {
      await client.query('COMMIT');
    }
  }

  async close(): Promise<void> {
    await Promise.all(BEST_EFFORT_ROLES.map((role) => this.stop(role)));
    await Promise.all([...this.clients.values()].map((c) => c.end().catch(() => undefined)));
    this.clients.clear();
    await Promise.all([this.sink.stop(), this.push.stop()]);
    await this.broker.close();
  }
}
