// The `outbox` bench: pharmacy dispensing → inventory through the transactional outbox and inbox on
// RabbitMQ, measured against what the same PostgreSQL and RabbitMQ do alone. Phases, one after another:
//   1. dispensing  `concurrency` clients post dispensing rounds (`batch` MedicationDispense in one
//                  transaction Bundle; `--batch=1` posts single resources) to the dispensing API; every
//                  dispense commits with its outbox event, the relay publishes it, the inventory applies it;
//   2. drain       the inventory catches up with the last events (not counted);
//   3. pg limit    `concurrency` connections commit one-row inserts (the same WAL, fsync and server);
//   4. broker      publisher confirms to a quorum queue with the same message size, batches in flight.
// End to end is measured in the databases: a dispense's outbox row (written in its transaction) against
// its ledger row in the inventory (written in the consumer's transaction), both on the server's clock.
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { serviceDatabaseName, type SqlExecutor } from '@hospital/platform';
import { RabbitMqConnection, RabbitMqPublisher, OutboundMessage } from '@hospital/transactions';
import { endpointsFromEnv, ensureDatabases } from '../infra/index';
import { findService, repositoryRoot, serviceEntry, serviceEnv, ServiceName } from '../services';
/* eslint-disable no-restricted-imports -- the bench seeds the pharmacy the way the demo does */
import { FORMULARY_DRUGS, seedFormulary } from '../../apps/pharmacy/src/dispensing/database/seeds/formulary';
import { seedInventory, stockSeedLines } from '../../apps/pharmacy/src/inventory/database/seeds/stock';
import { PharmacyEvent } from '../../apps/pharmacy/src/contracts/pharmacy-events';
/* eslint-enable no-restricted-imports */
import { clientConfig, Log, withClient } from './bench-cluster';
import { failureSummary, keepAliveAgent, postFhir } from './bench-http';
import { runLoad } from './bench-load';
import { BenchResultBase, BenchRunOptions, PhaseReporter, percentile, round } from './bench-report';
import { ServiceProcess } from './service-process';
import { cpuSnapshot, cpuUse, CpuUse, processNamed } from './bench-cpu';

const SUFFIX = 'bench';
const PARTS = ['pharmacy', 'pharmacy-inventory'] as const satisfies readonly ServiceName[];
type Part = (typeof PARTS)[number];
const database = (part: Part): string => serviceDatabaseName(part, SUFFIX);

export interface BenchOutboxOptions extends BenchRunOptions {
  /** Dispenses per request: 1 posts a MedicationDispense, more post a transaction Bundle (a dispensing round). */
  batch: number;
}

export interface BenchOutboxResult extends BenchResultBase {
  scenario: 'outbox';
  /** Dispenses per HTTP request: `completed` and `throughput_per_s` count dispenses, `p50_ms` and `p99_ms` time requests. */
  batch: number;
  /** Dispenses applied by the inventory during the measured phase, per second. */
  end_to_end_per_s: number;
  /** Dispense committed (outbox row) → inventory applied (ledger row), over dispenses of the measured phase. */
  lag_p50_ms: number;
  lag_p99_ms: number;
  /** Dispenses of the measured phase the inventory had not applied when the drain gave up (must be 0). */
  not_applied: number;
  broker_confirmed_publish_limit_per_s: number;
  pg_commit_limit_per_s: number;
  /** end_to_end_per_s against the smaller of the two limits. */
  limit_ratio: number;
  /** CPU per committed dispense during the measured phase, ms, by process (the machine has two cores). */
  cpu_ms_per_dispense: Record<string, number | null>;
  cpu_percent: CpuUse;
  /** Peak resident set size of each process of the run, MiB (VmHWM, read before they stop). */
  peak_rss_mb: Record<string, number | null>;
  error_samples: string[];
}

/** A pg client as the seeds' SqlExecutor. */
const executor = (client: Client): SqlExecutor => ({
  query: async <T>(sql: string, parameters?: unknown[]) => (await client.query(sql, parameters)).rows as T[],
});

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Drops and re-creates the run's databases, migrates and seeds them (stock large enough that no reorder opens). */
async function prepareDatabases(log: Log): Promise<void> {
  for (const part of PARTS) {
    await withClient('postgres', (admin) =>
      admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database(part))} WITH (FORCE)`),
    );
  }
  await ensureDatabases(
    endpointsFromEnv(),
    PARTS.map((part) => ({
      database: database(part),
      migrations: findService(part).migrations,
    })),
    () => undefined,
  );
  await withClient(database('pharmacy'), (client) => seedFormulary(executor(client)));
  const stock = stockSeedLines().map((line) => ({ ...line, onHand: 100_000_000, reorderPoint: 0 }));
  await withClient(database('pharmacy-inventory'), (client) => seedInventory(executor(client), stock));
  log(`fresh databases ${PARTS.map((p) => database(p)).join(', ')}; ${stock.length} stock lines`);
}

/**
 * The processes of a run: the dispensing API (its relay off), a relay-only replica of the dispensing part
 * (no traffic is sent to it), and the inventory. A relay of its own keeps publishing while the API's event
 * loop is busy with requests, as a hospital would run it.
 */
const PROCESSES = [
  { name: 'pharmacy', part: 'pharmacy', port: 3104, env: { OUTBOX_RELAY: 'false' } },
  { name: 'pharmacy-relay', part: 'pharmacy', port: 3105, env: { OUTBOX_RELAY: 'true' } },
  { name: 'pharmacy-inventory', part: 'pharmacy-inventory', port: 3141, env: {} },
] as const;

async function startParts(
  namespace: string,
  execArgv?: readonly string[],
): Promise<Record<string, ServiceProcess>> {
  const started = await Promise.all(
    PROCESSES.map((process) =>
      ServiceProcess.start({
        name: process.name,
        entry: serviceEntry(process.part),
        execArgv,
        env: serviceEnv(process.part, {
          PORT: String(process.port),
          HOST: '127.0.0.1',
          PGDATABASE: database(process.part),
          MESSAGING_NAMESPACE: namespace,
          LOG_LEVEL: 'warn',
          FAULT_KILL_AT: undefined,
          ...process.env,
        }),
        port: process.port,
        cwd: repositoryRoot(),
      }),
    ),
  );
  return Object.fromEntries(PROCESSES.map((process, i) => [process.name, started[i]]));
}

/** A dispense of 1–3 units of a formulary drug from the main pharmacy. */
function dispense(n: number): Record<string, unknown> {
  const drug = FORMULARY_DRUGS[n % FORMULARY_DRUGS.length];
  return {
    resourceType: 'MedicationDispense',
    status: 'completed',
    medicationCodeableConcept: {
      coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: drug.code }],
    },
    subject: { reference: `Patient/bench-${n % 500}` },
    location: { reference: 'Location/main-pharmacy' },
    quantity: { value: 1 + (n % 3) },
    whenHandedOver: new Date().toISOString(),
  };
}

async function serverNow(client: Client): Promise<Date> {
  const rows = await client.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  return rows.rows[0].now;
}

interface Lags {
  lags: number[];
  appliedInWindow: number;
  notApplied: number;
}

/**
 * The outbox rows the inventory applies: the dispense events (the same outbox also carries the pharmacy's
 * audit records, which go to the audit service).
 */
const DISPENSED = PharmacyEvent.MedicationDispensed.type;

/** Joins the measured phase's dispense events with the inventory's ledger rows, by message id. */
async function measureLags(from: Date, to: Date): Promise<Lags> {
  const written = await withClient(
    database('pharmacy'),
    async (client) =>
      (
        await client.query<{ id: string; at: number }>(
          `SELECT id, extract(epoch FROM created_at) * 1000 AS at FROM tx_outbox
          WHERE created_at >= $1 AND created_at < $2 AND type = $3`,
          [from, to, DISPENSED],
        )
      ).rows,
  );
  const applied = await withClient(database('pharmacy-inventory'), async (client) => {
    const rows = await client.query<{ message_id: string; at: number }>(
      `SELECT message_id, extract(epoch FROM applied_at) * 1000 AS at FROM inventory_movement WHERE kind = 'dispense'`,
    );
    return new Map(rows.rows.map((r) => [r.message_id, Number(r.at)]));
  });
  const lags: number[] = [];
  let notApplied = 0;
  for (const row of written) {
    const at = applied.get(row.id);
    if (at === undefined) notApplied += 1;
    else lags.push(Math.max(0, at - Number(row.at)));
  }
  const appliedInWindow = [...applied.values()].filter(
    (at) => at >= from.getTime() && at < to.getTime(),
  ).length;
  return { lags: lags.sort((a, b) => a - b), appliedInWindow, notApplied };
}

/** Waits until the inventory has applied every dispense written so far (or `timeoutMs` passes). */
async function drain(timeoutMs: number, log: Log): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const count = (database: string, sql: string) =>
    withClient(database, async (client) => Number((await client.query<{ n: string }>(sql)).rows[0].n));
  for (;;) {
    const written = await count(
      database('pharmacy'),
      `SELECT count(*) AS n FROM tx_outbox WHERE type = '${DISPENSED}'`,
    );
    const applied = await count(
      database('pharmacy-inventory'),
      `SELECT count(*) AS n FROM inventory_movement WHERE kind = 'dispense'`,
    );
    if (applied >= written) return;
    if (Date.now() > deadline) {
      log(`drain gave up: ${written - applied} dispense(s) not applied yet`);
      return;
    }
    await sleep(100);
  }
}

/** Commits of one-row inserts per second with `concurrency` connections: the server's commit limit. */
async function pgCommitLimit(
  concurrency: number,
  durationS: number,
  reporter: PhaseReporter,
): Promise<number> {
  const name = database('pharmacy');
  await withClient(name, (c) =>
    c.query('CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, body jsonb NOT NULL)'),
  );
  const clients = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const client = new Client(clientConfig(name));
      await client.connect();
      return client;
    }),
  );
  const body = JSON.stringify({ dispenseId: randomUUID(), medicationCode: '197361', quantity: 2 });
  try {
    const result = await runLoad({
      concurrency,
      durationMs: durationS * 1000,
      operation: async (worker) => {
        await clients[worker].query('INSERT INTO bench_commit (body) VALUES ($1)', [body]);
        return { ok: true };
      },
      onProgress: (p) => reporter.update(p),
    });
    reporter.done();
    return result.completed / (result.elapsedMs / 1000);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

/** Messages per second confirmed by the broker into a quorum queue, `inFlight` batches of 100 outstanding. */
async function brokerConfirmLimit(
  connection: RabbitMqConnection,
  inFlight: number,
  durationS: number,
  reporter: PhaseReporter,
): Promise<number> {
  const queue = connection.name('bench.publish-limit');
  const exchange = 'bench.publish-limit';
  await connection.withChannel(async (channel) => {
    await channel.assertExchange(connection.name(exchange), 'topic', { durable: true });
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await channel.bindQueue(queue, connection.name(exchange), '#');
  });
  const publisher = new RabbitMqPublisher(connection);
  const payload = {
    dispenseId: randomUUID(),
    medicationCode: '197361',
    locationId: 'main-pharmacy',
    quantity: 2,
    dispensedAt: new Date().toISOString(),
  };
  const batch = (): OutboundMessage[] =>
    Array.from({ length: 100 }, () => ({
      id: randomUUID(),
      exchange,
      routingKey: 'dispensing.medication-dispensed',
      type: 'pharmacy.medication-dispensed',
      source: 'bench',
      gtid: randomUUID(),
      aggregateId: '197361@main-pharmacy',
      sequence: 1,
      payload,
    }));
  try {
    const result = await runLoad({
      concurrency: inFlight,
      durationMs: durationS * 1000,
      operation: async () => {
        await publisher.publish(batch());
        return { ok: true };
      },
      onProgress: (p) => reporter.update({ ...p, completed: p.completed * 100 }),
    });
    reporter.done();
    return (result.completed * 100) / (result.elapsedMs / 1000);
  } finally {
    await publisher.close();
    await connection.withChannel((channel) => channel.deleteQueue(queue)).catch(() => undefined);
    await connection
      .withChannel((channel) => channel.deleteExchange(connection.name(exchange)))
      .catch(() => undefined);
  }
}

/** Removes the run's queues and exchanges from the broker. */
async function dropNamespace(connection: RabbitMqConnection): Promise<void> {
  await connection
    .withChannel(async (channel) => {
      for (const queue of ['pharmacy.inventory.dispenses', 'pharmacy.inventory.deliveries']) {
        await channel.deleteQueue(connection.name(queue));
        await channel.deleteQueue(connection.name(`${queue}.dead-letter`));
      }
      await channel.deleteExchange(connection.name('pharmacy.events'));
    })
    .catch(() => undefined);
}

export async function runBenchOutbox(options: BenchOutboxOptions): Promise<BenchOutboxResult> {
  const { concurrency, durationS, warmupS, log } = options;
  const namespace = `bench-${randomBytes(3).toString('hex')}`;
  await prepareDatabases(log);
  const parts = await startParts(namespace, options.serviceExecArgv);
  const connection = new RabbitMqConnection(endpointsFromEnv().rabbitmq.url, 'hospital-bench', namespace);
  const agent = keepAliveAgent(concurrency);
  const base = `http://127.0.0.1:${PROCESSES[0].port}/fhir`;
  const { batch } = options;
  let n = 0;
  const operation = async () => {
    if (batch === 1) {
      const result = await postFhir(`${base}/MedicationDispense`, dispense(n++), { agent });
      return result.status === 201 ? { ok: true } : { ok: false, error: failureSummary(result) };
    }
    const round = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: batch }, () => ({
        fullUrl: `urn:uuid:${randomUUID()}`,
        resource: dispense(n++),
        request: { method: 'POST', url: 'MedicationDispense' },
      })),
    };
    const result = await postFhir(base, round, { agent });
    return result.status === 200 ? { ok: true } : { ok: false, error: failureSummary(result) };
  };
  const admin = new Client(clientConfig(database('pharmacy')));
  await admin.connect();
  try {
    log(`dispensing API, its relay and the inventory up; namespace ${namespace}`);
    const warm = options.phase('warm-up', warmupS);
    await runLoad({ concurrency, durationMs: warmupS * 1000, operation, onProgress: (p) => warm.update(p) });
    warm.done();
    await drain(30_000, log);

    const measured = options.phase('dispensing', durationS);
    const from = await serverNow(admin);
    const accounted = { ...parts, rabbitmq: processNamed('beam.smp') };
    const cpuFrom = cpuSnapshot(accounted);
    const load = await runLoad({
      concurrency,
      durationMs: durationS * 1000,
      operation,
      onProgress: (p) => measured.update(p),
    });
    const cpu = cpuUse(cpuFrom, cpuSnapshot(accounted));
    const to = await serverNow(admin);
    measured.done();
    const perDispense = (percent: number | null): number | null =>
      percent === null || load.completed === 0
        ? null
        : round(((percent / 100) * load.elapsedMs) / (load.completed * batch), 2);
    await drain(60_000, log);
    const lags = await measureLags(from, to);
    const windowS = (to.getTime() - from.getTime()) / 1000;

    const limitS = Math.min(10, durationS);
    const pgLimit = await pgCommitLimit(concurrency, limitS, options.phase('pg commit limit', limitS));
    const brokerLimit = await brokerConfirmLimit(
      connection,
      8,
      limitS,
      options.phase('broker confirm limit', limitS),
    );

    const rss = Object.fromEntries(
      Object.entries(parts).map(([name, part]) => {
        const mb = part.peakRssMb();
        return [name, mb === undefined ? null : round(mb, 1)];
      }),
    );
    const endToEnd = lags.appliedInWindow / windowS;
    const latencies = load.latencies.sorted();
    return {
      scenario: 'outbox',
      concurrency,
      batch,
      duration_s: durationS,
      completed: load.completed * batch,
      throughput_per_s: round((load.completed * batch) / (load.elapsedMs / 1000)),
      p50_ms: round(percentile(latencies, 50)),
      p99_ms: round(percentile(latencies, 99)),
      errors: load.errors,
      end_to_end_per_s: round(endToEnd),
      lag_p50_ms: round(percentile(lags.lags, 50)),
      lag_p99_ms: round(percentile(lags.lags, 99)),
      not_applied: lags.notApplied,
      broker_confirmed_publish_limit_per_s: round(brokerLimit),
      pg_commit_limit_per_s: round(pgLimit),
      limit_ratio: round(endToEnd / Math.min(brokerLimit, pgLimit), 3),
      cpu_ms_per_dispense: {
        ...Object.fromEntries(
          Object.entries(cpu.services).map(([name, value]) => [name, perDispense(value)]),
        ),
        postgres: perDispense(cpu.postgres),
        bench_client: perDispense(cpu.client),
        other: perDispense(cpu.other),
      },
      cpu_percent: cpu,
      peak_rss_mb: rss,
      error_samples: load.errorSamples,
    };
  } finally {
    await admin.end().catch(() => undefined);
    agent.destroy();
    await Promise.all(Object.values(parts).map((p) => p.stop()));
    await dropNamespace(connection);
    await connection.close().catch(() => undefined);
  }
}
