// The `2pc` bench: the EMR ↔ LIS ↔ PACS record update over two-phase commit, measured against what the
// same PostgreSQL does with prepared transactions alone and against the same writes without coordination.
// Three phases, one after another so they do not compete for the machine:
//   1. workflow  `concurrency` clients post the record-update bundle to emr for `duration` seconds;
//   2. limit     `concurrency` connections loop BEGIN; UPDATE; PREPARE TRANSACTION; COMMIT PREPARED;
//   3. baseline  `concurrency` workers write the same rows as three independent local transactions.
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { TwoPhaseServiceName as ServiceName } from '../services';
import {
  clientConfig,
  recreateRunDatabases,
  runDatabaseName,
  ServiceCluster,
  serviceNames,
  withClient,
} from './bench-cluster';
import { CpuUse, cpuSnapshot, cpuUse } from './bench-cpu';
import { failureSummary, keepAliveAgent, postBundle } from './bench-http';
import { LoadResult, runLoad } from './bench-load';
import { settledXactCommits, sumValues } from './bench-pg';
import { BenchResultBase, BenchRunOptions, percentile, round } from './bench-report';
import { recordUpdateBundle } from './sample-bundle';

export const BENCH_SUFFIX = 'bench';
export const BENCH_PORT_BASE = 3100;

export type Bench2pcOptions = BenchRunOptions;

export interface Bench2pcResult extends BenchResultBase {
  scenario: '2pc';
  pg_prepared_commit_limit_per_s: number;
  commits_per_global_tx: number;
  limit_ratio: number;
  unsafe_baseline_per_s: number;
  vs_unsafe_ratio: number;
  peak_rss_mb: Record<ServiceName, number | null>;
  /** xact_commit per completed global transaction, per database. */
  commits_per_global_tx_by_db: Record<ServiceName, number>;
  /** xact_commit one iteration of the limit loop costs, counted the same way (PREPARE and COMMIT PREPARED). */
  limit_commits_per_iteration: number;
  /** pg_prepared_commit_limit_per_s / commits_per_global_tx: the contract's bound on global transactions. */
  implied_global_tx_limit_per_s: number;
  /** throughput over the bound with both sides counted in xact_commit (limit × limit_commits_per_iteration). */
  limit_ratio_same_units: number;
  warmup_s: number;
  warmup_completed: number;
  elapsed_s: number;
  limit_iterations: number;
  baseline_completed: number;
  baseline_p50_ms: number;
  /** CPU during the workflow phase, percent of one core. */
  cpu_percent: CpuUse;
  /** CPU during the limit loop, percent of one core. */
  limit_cpu_percent: CpuUse;
  /** CPU during the unsafe baseline, percent of one core. */
  baseline_cpu_percent: CpuUse;
  error_samples: string[];
}

const runId = Date.now().toString(36);

function latencySummary(result: LoadResult): { p50: number; p99: number } {
  const sorted = result.latencies.sorted();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

async function phase(
  options: Bench2pcOptions,
  name: string,
  durationS: number,
  concurrency: number,
  operation: (worker: number) => Promise<{ ok: boolean; error?: string }>,
): Promise<LoadResult> {
  const reporter = options.phase(name, durationS);
  try {
    return await runLoad({
      concurrency,
      durationMs: durationS * 1000,
      operation,
      onProgress: (p) => reporter.update(p),
    });
  } finally {
    reporter.done();
  }
}

/**
 * A phase of the options' duration and concurrency, with the CPU used during it by the given services,
 * every PostgreSQL process, the client and the rest of the machine. Call it while the phase's own
 * database connections are open: their backends' CPU is read from /proc only while they exist.
 */
async function measuredPhase(
  options: Bench2pcOptions,
  name: string,
  services: Parameters<typeof cpuSnapshot>[0],
  operation: (worker: number) => Promise<{ ok: boolean; error?: string }>,
): Promise<{ load: LoadResult; cpu: CpuUse }> {
  const start = cpuSnapshot(services);
  const load = await phase(options, name, options.durationS, options.concurrency, operation);
  return { load, cpu: cpuUse(start, cpuSnapshot(services)) };
}

/** Phase 1: the workflow through the services. */
async function workflow(
  options: Bench2pcOptions,
  cluster: ServiceCluster,
  databases: string[],
): Promise<{
  warmup: LoadResult;
  load: LoadResult;
  commits: Record<ServiceName, number>;
  cpu: CpuUse;
  rss: Record<ServiceName, number | null>;
}> {
  const agent = keepAliveAgent(options.concurrency);
  const emr = cluster.url('emr');
  const prefix = `BENCH-${runId}`;
  let seq = 0;
  const post = async (): Promise<{ ok: boolean; error?: string }> => {
    const n = seq++;
    const response = await postBundle(emr, recordUpdateBundle(n, prefix), {
      agent,
      correlationId: `bench-${runId}-${n}`,
    });
    return response.status === 200 ? { ok: true } : { ok: false, error: failureSummary(response) };
  };

  const warmup = await phase(options, 'warm-up', options.warmupS, options.concurrency, post);
  if (warmup.completed === 0) {
    throw new Error(
      `no record update succeeded during the warm-up: ${warmup.errorSamples.join(' | ') || 'no response'}`,
    );
  }
  // Counters complete before the phase: the services' idle connections are closed (their pools reopen them).
  const before = await settledXactCommits(databases, { terminate: true });
  const processes = Object.fromEntries(serviceNames.map((s) => [s, cluster.get(s)]));
  const { load, cpu } = await measuredPhase(options, 'workflow', processes, post);
  agent.destroy();
  const rss = Object.fromEntries(
    serviceNames.map((s) => {
      const mb = cluster.get(s).peakRssMb();
      return [s, mb === undefined ? null : round(mb, 1)];
    }),
  ) as Record<ServiceName, number | null>;
  // Stopping the services closes their connections; each backend reports its last counters as it exits.
  await cluster.stopAll();
  const after = await settledXactCommits(databases, { terminate: false });
  const commits = Object.fromEntries(
    serviceNames.map((s, i) => [s, after[databases[i]] - before[databases[i]]]),
  ) as Record<ServiceName, number>;
  return { warmup, load, commits, cpu, rss };
}

/** Phase 2: PostgreSQL's own rate of prepared-transaction commits, same driver, same concurrency. */
async function preparedCommitLimit(
  options: Bench2pcOptions,
  database: string,
): Promise<{ load: LoadResult; commitsPerIteration: number; cpu: CpuUse }> {
  const table = 'bench_prepared_limit';
  await withClient(database, async (client) => {
    await client.query(`DROP TABLE IF EXISTS ${table}`);
    await client.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`);
    await client.query(`INSERT INTO ${table} (id) SELECT generate_series(0, $1 - 1)`, [options.concurrency]);
  });
  const before = await settledXactCommits([database], { terminate: false });
  const clients = await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      const client = new Client(clientConfig(database));
      client.on('error', () => undefined);
      await client.connect();
      return client;
    }),
  );
  const iterations = new Array<number>(options.concurrency).fill(0);
  let measured: { load: LoadResult; cpu: CpuUse };
  try {
    measured = await measuredPhase(options, 'pg prepared-commit limit', {}, async (w) => {
      const client = clients[w];
      const gid = `bench-limit-${runId}-${w}-${iterations[w]++}`;
      try {
        await client.query('BEGIN');
        await client.query(`UPDATE ${table} SET n = n + 1 WHERE id = $1`, [w]);
        await client.query(`PREPARE TRANSACTION '${gid}'`);
        await client.query(`COMMIT PREPARED '${gid}'`);
        return { ok: true };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        await client.query(`ROLLBACK PREPARED '${gid}'`).catch(() => undefined);
        return { ok: false, error: error instanceof Error ? error.message : String(error) };
      }
    });
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
  const { load, cpu } = measured;
  const after = await settledXactCommits([database], { terminate: false });
  const commitsPerIteration =
    load.completed > 0 ? (after[database] - before[database]) / load.completed : Number.NaN;
  return { load, commitsPerIteration, cpu };
}

/** The tables a record update writes through the FHIR store, and the column naming the resource. */
const STORE_TABLES = [
  { table: 'fhir_resource', key: 'id' },
  { table: 'fhir_resource_history', key: 'id' },
  { table: 'fhir_search_index', key: 'resource_id' },
] as const;

/** The rows one committed record update left in one database, as JSON texts, and the statement to copy them. */
interface DatabaseTemplate {
  database: string;
  /** One JSON array per STORE_TABLES entry. */
  rows: string[];
  /** A single INSERT … statement (data-modifying CTEs) writing all of them: one local transaction. */
  insert: string;
  resources: number;
}

interface BaselineTemplate {
  /** The update's resource ids, replaced by fresh ones on every copy. */
  ids: string[];
  perDatabase: DatabaseTemplate[];
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

async function captureTemplate(databases: Record<ServiceName, string>): Promise<BaselineTemplate> {
  const ids = await withClient(databases.emr, async (client) => {
    const patient = await client.query<{ id: string }>(
      `SELECT id FROM fhir_resource WHERE resource_type = 'Patient' AND NOT deleted ORDER BY last_updated DESC LIMIT 1`,
    );
    const id = patient.rows[0]?.id;
    if (!id) throw new Error('the workflow phase left no patient in emr to take the baseline rows from');
    const related = await client.query<{ id: string }>(
      `SELECT id FROM fhir_resource WHERE content->'subject'->>'reference' = $1`,
      [`Patient/${id}`],
    );
    return [id, ...related.rows.map((r) => r.id)];
  });
  const perDatabase = await Promise.all(
    serviceNames.map((s) =>
      withClient(databases[s], async (client): Promise<DatabaseTemplate> => {
        const rows: string[] = [];
        const inserts: string[] = [];
        for (const [i, { table, key }] of STORE_TABLES.entries()) {
          // Every column the store writes (not the identity key PostgreSQL assigns), as the schema has them now.
          const columns = (
            await client.query<{ column_name: string }>(
              `SELECT column_name FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = $1 AND is_identity = 'NO' AND is_generated = 'NEVER'
                ORDER BY ordinal_position`,
              [table],
            )
          ).rows.map((r) => quoteIdent(r.column_name));
          const list = columns.join(', ');
          const json = await client.query<{ rows: string }>(
            `SELECT coalesce(json_agg(t), '[]')::text AS rows FROM (SELECT ${list} FROM ${table} WHERE ${key} = ANY($1)) t`,
            [ids],
          );
          rows.push(json.rows[0].rows);
          inserts.push(
            `INSERT INTO ${table} (${list}) SELECT ${list} FROM jsonb_populate_recordset(NULL::${table}, $${i + 1}::jsonb)`,
          );
        }
        const last = inserts.pop() ?? '';
        const insert = `${inserts.length > 0 ? `WITH ${inserts.map((q, i) => `w${i} AS (${q})`).join(', ')} ` : ''}${last}`;
        return { database: databases[s], rows, insert, resources: (JSON.parse(rows[0]) as unknown[]).length };
      }),
    ),
  );
  const expected: Record<ServiceName, number> = { emr: 4, lis: 2, pacs: 2 };
  serviceNames.forEach((s, i) => {
    if (perDatabase[i].resources !== expected[s]) {
      throw new Error(
        `baseline template: ${s} holds ${perDatabase[i].resources} resources of one update, expected ${expected[s]}`,
      );
    }
  });
  return { ids, perDatabase };
}

/** Phase 3: the same writes with no coordination — one independent local transaction per database. */
async function unsafeBaseline(
  options: Bench2pcOptions,
  template: BaselineTemplate,
): Promise<{ load: LoadResult; cpu: CpuUse }> {
  const workers = await Promise.all(
    Array.from({ length: options.concurrency }, () =>
      Promise.all(
        template.perDatabase.map(async (d) => {
          const client = new Client(clientConfig(d.database));
          client.on('error', () => undefined);
          await client.connect();
          return client;
        }),
      ),
    ),
  );
  try {
    return await measuredPhase(options, 'unsafe baseline', {}, async (w) => {
      const fresh = template.ids.map(() => randomUUID());
      const substitute = (text: string): string =>
        template.ids.reduce((t, id, i) => t.split(id).join(fresh[i]), text);
      try {
        await Promise.all(
          template.perDatabase.map((d, i) => workers[w][i].query(d.insert, d.rows.map(substitute))),
        );
        return { ok: true };
      } catch (error) {
        return { ok: false, error: error instanceof Error ? error.message : String(error) };
      }
    });
  } finally {
    await Promise.all(workers.flat().map((c) => c.end().catch(() => undefined)));
  }
}

export async function runBench2pc(options: Bench2pcOptions): Promise<Bench2pcResult> {
  const { log } = options;
  const cluster = new ServiceCluster({
    suffix: BENCH_SUFFIX,
    portBase: BENCH_PORT_BASE,
    env: { LOG_LEVEL: 'warn' },
    execArgv: options.serviceExecArgv,
  });
  await cluster.assertPortsFree();
  await recreateRunDatabases(BENCH_SUFFIX, log);
  const names = Object.fromEntries(serviceNames.map((s) => [s, runDatabaseName(s, BENCH_SUFFIX)])) as Record<
    ServiceName,
    string
  >;
  const databases = serviceNames.map((s) => names[s]);

  let flow: Awaited<ReturnType<typeof workflow>>;
  try {
    await cluster.startAll();
    log(`services up: ${serviceNames.map((s) => `${s} ${cluster.url(s)}`).join(', ')}`);
    flow = await workflow(options, cluster, databases);
  } finally {
    await cluster.stopAll();
  }
  const { load } = flow;
  const elapsedS = load.elapsedMs / 1000;
  const throughput = load.completed / elapsedS;
  const totalCommits = sumValues(flow.commits);
  const commitsPerGlobalTx = load.completed > 0 ? totalCommits / load.completed : Number.NaN;

  const limit = await preparedCommitLimit(options, names.emr);
  if (limit.load.errors > 0)
    log(`limit loop: ${limit.load.errors} error(s): ${limit.load.errorSamples.join(' | ')}`);
  const limitPerS = limit.load.completed / (limit.load.elapsedMs / 1000);

  const template = await captureTemplate(names);
  const { load: baseline, cpu: baselineCpu } = await unsafeBaseline(options, template);
  if (baseline.errors > 0) log(`baseline: ${baseline.errors} error(s): ${baseline.errorSamples.join(' | ')}`);
  const baselinePerS = baseline.completed / (baseline.elapsedMs / 1000);

  const latency = latencySummary(load);
  const impliedLimit = limitPerS / commitsPerGlobalTx;
  return {
    scenario: '2pc',
    concurrency: options.concurrency,
    duration_s: options.durationS,
    completed: load.completed,
    throughput_per_s: round(throughput, 1),
    p50_ms: round(latency.p50, 1),
    p99_ms: round(latency.p99, 1),
    errors: load.errors,
    pg_prepared_commit_limit_per_s: round(limitPerS, 1),
    commits_per_global_tx: round(commitsPerGlobalTx, 2),
    limit_ratio: round(throughput / impliedLimit, 3),
    unsafe_baseline_per_s: round(baselinePerS, 1),
    vs_unsafe_ratio: round(throughput / baselinePerS, 3),
    peak_rss_mb: flow.rss,
    commits_per_global_tx_by_db: Object.fromEntries(
      serviceNames.map((s) => [s, round(flow.commits[s] / load.completed, 2)]),
    ) as Record<ServiceName, number>,
    limit_commits_per_iteration: round(limit.commitsPerIteration, 2),
    implied_global_tx_limit_per_s: round(impliedLimit, 1),
    limit_ratio_same_units: round(
      throughput / ((limitPerS * limit.commitsPerIteration) / commitsPerGlobalTx),
      3,
    ),
    warmup_s: options.warmupS,
    warmup_completed: flow.warmup.completed,
    elapsed_s: round(elapsedS, 2),
    limit_iterations: limit.load.completed,
    baseline_completed: baseline.completed,
    baseline_p50_ms: round(latencySummary(baseline).p50, 1),
    cpu_percent: flow.cpu,
    limit_cpu_percent: limit.cpu,
    baseline_cpu_percent: baselineCpu,
    error_samples: load.errorSamples,
  };
}
