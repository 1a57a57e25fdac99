// The `3pc` bench: the telemedicine consult completion (`$complete`: the EMR's findings, telemedicine's
// consult record, the referring site's recommendation) committed three ways in one run, on the same three
// services (one TelemedicineCluster, not proxied), to price coordination honestly:
//   uncoordinated  each participant applies its part in a plain local transaction (`?_mode=uncoordinated`:
//                  the same HTTP and validation path, no protocol, not atomic);
//   2pc            two-phase commit over the participants' 3PC routes without PreCommit (`?_mode=2pc`);
//   3pc            the service's own three-phase commit (the default).
// Each mode: consults opened beforehand (untimed), a warm-up, then `concurrency` closed-loop clients for
// `duration` seconds. Afterwards every completed consult is checked to hold its three parts, and nothing
// may be left prepared. The modes run in that order, so the protocols run on the larger tables.
import { randomInt } from 'node:crypto';
import type { Agent } from 'node:http';
import { cpuSnapshot, cpuUse, type CpuUse } from './bench-cpu';
import { failureSummary, keepAliveAgent } from './bench-http';
import { type Outcome, runLoad } from './bench-load';
import { settledXactCommits } from './bench-pg';
import { type BenchResultBase, type BenchRunOptions, Latencies, percentile, round } from './bench-report';
import { withClient } from './bench-cluster';
import {
  CONSULT_SERVICES,
  type ConsultServiceName,
  type OpenConsult,
  TelemedicineCluster,
} from './telemedicine-cluster';

/** The bench's ports (telemedicine, the EMR, the referral inbox from here) and database suffix. */
export const BENCH_3PC_BASE_PORT = 3900;
export const BENCH_3PC_SUFFIX = 'bench3pc';

export type CompletionMode = '3pc' | '2pc' | 'uncoordinated';
/** In run order. */
export const COMPLETION_MODES: readonly CompletionMode[] = ['uncoordinated', '2pc', '3pc'];

/** Patients the consults are spread over. */
const PATIENTS = 64;
/** Consults opened side by side before a phase. */
const OPENERS = 16;
/** Completed consults per mode also checked one by one with `TelemedicineCluster.parts`. */
const PARTS_SAMPLE = 25;

export interface ModeResult {
  mode: CompletionMode;
  completed: number;
  per_s: number;
  p50_ms: number;
  p99_ms: number;
  /** Answers other than 200 (and calls with no answer) in the timed phase. */
  errors: number;
  elapsed_s: number;
  warmup_completed: number;
  warmup_errors: number;
  /** Completed consults (warm-up included) missing one of their three parts after the run. */
  incomplete: number;
  /** Consults opened for the phase, and whether the workers ran out of them. */
  consults_opened: number;
  ran_dry: boolean;
  /** Committed transactions (PostgreSQL `xact_commit`) per completion, by database, timed phase. */
  xact_commits_per_completion: Record<ConsultServiceName, number>;
  /** CPU of the timed phase, percent of one core. */
  cpu_percent: CpuUse;
  /** CPU milliseconds per completion, by service process and PostgreSQL. */
  cpu_ms_per_completion: Record<string, number | null>;
  error_samples: string[];
}

export interface Bench3pcResult extends BenchResultBase {
  scenario: '3pc';
  threepc_per_s: number;
  twopc_per_s: number;
  uncoordinated_per_s: number;
  three_vs_two_ratio: number;
  twopc_vs_uncoordinated_ratio: number;
  threepc_vs_uncoordinated_ratio: number;
  threepc_p50_ms: number;
  threepc_p99_ms: number;
  twopc_p50_ms: number;
  twopc_p99_ms: number;
  uncoordinated_p50_ms: number;
  uncoordinated_p99_ms: number;
  threepc_errors: number;
  twopc_errors: number;
  uncoordinated_errors: number;
  /** Completed consults missing one of their parts, all modes. */
  incomplete: number;
  /** Prepared transactions left in the three databases after the run. */
  prepared_left: number;
  /** The largest peak RSS of the three service processes, MiB. */
  peak_rss_mb: number | null;
  peak_rss_mb_by_service: Record<ConsultServiceName, number | null>;
  warmup_s: number;
  modes: ModeResult[];
}

/** The consults (`ServiceRequest/<id>`, of $1) whose part each database holds, as `TelemedicineCluster.parts` looks for one. */
const PART_QUERIES: Record<ConsultServiceName, string> = {
  emr: `SELECT DISTINCT b->>'reference' AS ref FROM fhir_resource, jsonb_array_elements(content->'basedOn') b
         WHERE resource_type = 'DiagnosticReport' AND NOT deleted AND b->>'reference' = ANY($1)`,
  'referral-inbox': `SELECT DISTINCT b->>'reference' AS ref FROM fhir_resource, jsonb_array_elements(content->'basedOn') b
         WHERE resource_type = 'Communication' AND NOT deleted AND b->>'reference' = ANY($1)`,
  telemedicine: `SELECT 'ServiceRequest/' || id AS ref FROM fhir_resource
         WHERE resource_type = 'ServiceRequest' AND content->>'status' = 'completed' AND 'ServiceRequest/' || id = ANY($1)`,
};

class ConsultBench {
  readonly cluster: TelemedicineCluster;
  private readonly agent: Agent;
  private readonly pool: OpenConsult[] = [];

  constructor(private readonly options: BenchRunOptions) {
    this.cluster = new TelemedicineCluster({
      basePort: BENCH_3PC_BASE_PORT,
      suffix: BENCH_3PC_SUFFIX,
      log: options.log,
      execArgv: options.serviceExecArgv,
      // Every participant opens its apply route; telemedicine runs the measurement modes.
      env: { TX_UNCOORDINATED_APPLY: 'true' },
      envOf: { telemedicine: { CONSULT_MEASUREMENT_MODES: 'true' } },
    });
    this.agent = keepAliveAgent(Math.max(options.concurrency, 8));
  }

  start(): Promise<void> {
    return this.cluster.start(PATIENTS);
  }

  /** Consults open and not yet taken by a client. */
  get openConsults(): number {
    return this.pool.length;
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    await this.cluster.stop();
  }

  /** Opens `count` consults side by side (untimed) and adds them to the pool. */
  async open(count: number): Promise<void> {
    const started = performance.now();
    let next = 0;
    const opener = async (): Promise<void> => {
      while (next < count) {
        next += 1;
        const patient = this.cluster.patientIds[randomInt(this.cluster.patientIds.length)];
        this.pool.push(await this.cluster.openConsult(patient));
      }
    };
    await Promise.all(Array.from({ length: OPENERS }, opener));
    this.options.log(
      `${count} consults opened in ${((performance.now() - started) / 1000).toFixed(1)} s (${this.pool.length} open)`,
    );
  }

  /** `concurrency` clients completing consults in `mode` for `durationMs`. */
  async run(
    mode: CompletionMode,
    durationMs: number,
    completedIds: string[],
    onProgress?: (p: { elapsedMs: number; completed: number; errors: number }) => void,
  ): Promise<{
    completed: number;
    errors: number;
    elapsedMs: number;
    latencies: Latencies;
    errorSamples: string[];
    ranDry: boolean;
  }> {
    let ranDry = false;
    const operation = async (): Promise<Outcome> => {
      const consult = this.pool.pop();
      if (consult === undefined) {
        ranDry = true;
        await new Promise((resolve) => setTimeout(resolve, 50));
        return { ok: false, error: 'no open consult left' };
      }
      const answer = await this.cluster.complete(consult.serviceRequestId, {
        agent: this.agent,
        timeoutMs: 60_000,
        query: `_mode=${mode}`,
      });
      if (answer.status === 200) {
        completedIds.push(consult.serviceRequestId);
        return { ok: true };
      }
      return { ok: false, error: `${mode}: ${failureSummary(answer)}` };
    };
    const load = await runLoad({
      concurrency: this.options.concurrency,
      durationMs,
      operation,
      onProgress,
    });
    return {
      completed: load.completed,
      errors: load.errors,
      elapsedMs: load.elapsedMs,
      latencies: load.latencies,
      errorSamples: load.errorSamples,
      ranDry,
    };
  }

  /** Completed consults (of `ids`) missing a part in some participant; a sample is also read by `parts`. */
  async incomplete(ids: readonly string[]): Promise<number> {
    const references = ids.map((id) => `ServiceRequest/${id}`);
    const missing = new Set<string>();
    for (const service of CONSULT_SERVICES) {
      const found = await withClient(this.cluster.database(service), async (client) => {
        const rows = await client.query<{ ref: string }>(PART_QUERIES[service], [references]);
        return new Set(rows.rows.map((r) => r.ref));
      });
      for (const reference of references) if (!found.has(reference)) missing.add(reference);
    }
    const sample = [...ids].sort(() => Math.random() - 0.5).slice(0, PARTS_SAMPLE);
    for (const id of sample) {
      const parts = await this.cluster.parts(id);
      if (!CONSULT_SERVICES.every((s) => parts.applied[s])) missing.add(`ServiceRequest/${id}`);
    }
    return missing.size;
  }

  /** Prepared transactions left in the three databases. */
  async preparedLeft(): Promise<number> {
    let n = 0;
    for (const service of CONSULT_SERVICES)
      n += await withClient(this.cluster.database(service), async (client) => {
        const rows = await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_prepared_xacts WHERE database = current_database()`,
        );
        return rows.rows[0]?.n ?? 0;
      });
    return n;
  }

  /** `xact_commit` of the three databases, once every connection to them was closed (see bench-pg). */
  async xactCommits(): Promise<Record<ConsultServiceName, number>> {
    const databases = CONSULT_SERVICES.map((s) => this.cluster.database(s));
    const commits = await settledXactCommits(databases, { terminate: true });
    return Object.fromEntries(
      CONSULT_SERVICES.map((s) => [s, commits[this.cluster.database(s)] ?? 0]),
    ) as Record<ConsultServiceName, number>;
  }
}

async function measureMode(
  bench: ConsultBench,
  mode: CompletionMode,
  options: BenchRunOptions,
  previousRate: number,
): Promise<ModeResult> {
  const { concurrency, durationS, warmupS, log } = options;
  const completedIds: string[] = [];
  const warmupNeed = Math.ceil(Math.max(previousRate, 100) * 2 * warmupS) + concurrency * 2;
  await bench.open(warmupNeed);
  const warm = options.phase(`${mode} warm-up`, warmupS);
  const warmup = await bench.run(mode, warmupS * 1000, completedIds, (p) => warm.update(p));
  warm.done();
  const warmRate = warmup.completed / Math.max(0.1, warmup.elapsedMs / 1000);
  // Enough for twice the warm-up's rate (or the previous mode's, if higher) over the whole phase.
  const need = Math.ceil(Math.max(warmRate, previousRate, 50) * 2 * durationS) + concurrency * 4;
  const extra = Math.max(0, need - bench.openConsults);
  await bench.open(extra);
  const commitsFrom = await bench.xactCommits();
  const processes = bench.cluster.processes;
  const cpuFrom = cpuSnapshot(processes);
  const timed = options.phase(`${mode} completions`, durationS);
  const result = await bench.run(mode, durationS * 1000, completedIds, (p) => timed.update(p));
  const cpu = cpuUse(cpuFrom, cpuSnapshot(processes));
  timed.done();
  const commitsTo = await bench.xactCommits();
  if (result.ranDry) log(`${mode}: the open consults ran out before the end of the phase`);
  const incomplete = await bench.incomplete(completedIds);
  log(`${mode}: ${completedIds.length} completed consults checked, ${incomplete} missing a part`);
  const sorted = result.latencies.sorted();
  const elapsedS = result.elapsedMs / 1000;
  const perCompletion = (value: number): number =>
    result.completed > 0 ? round(value / result.completed, 2) : NaN;
  const cpuMs = (percent: number | null): number | null =>
    percent === null || result.completed === 0
      ? null
      : round(((percent / 100) * elapsedS * 1000) / result.completed, 2);
  return {
    mode,
    completed: result.completed,
    per_s: round(result.completed / elapsedS),
    p50_ms: round(percentile(sorted, 50)),
    p99_ms: round(percentile(sorted, 99)),
    errors: result.errors,
    elapsed_s: round(elapsedS, 2),
    warmup_completed: warmup.completed,
    warmup_errors: warmup.errors,
    incomplete,
    consults_opened: warmupNeed + extra,
    ran_dry: result.ranDry || warmup.ranDry,
    xact_commits_per_completion: Object.fromEntries(
      CONSULT_SERVICES.map((s) => [s, perCompletion(commitsTo[s] - commitsFrom[s])]),
    ) as Record<ConsultServiceName, number>,
    cpu_percent: cpu,
    cpu_ms_per_completion: {
      ...Object.fromEntries(Object.entries(cpu.services).map(([name, p]) => [name, cpuMs(p)])),
      postgres: cpuMs(cpu.postgres),
      bench_client: cpuMs(cpu.client),
    },
    error_samples: [...warmup.errorSamples, ...result.errorSamples].slice(0, 5),
  };
}

const ratio = (a: number, b: number): number => (b > 0 ? round(a / b, 3) : NaN);

export async function runBench3pc(options: BenchRunOptions): Promise<Bench3pcResult> {
  const { concurrency, durationS, warmupS, log } = options;
  const bench = new ConsultBench(options);
  try {
    await bench.start();
    const modes: ModeResult[] = [];
    let rate = 0;
    for (const mode of COMPLETION_MODES) {
      const result = await measureMode(bench, mode, options, rate);
      rate = Math.max(rate, result.per_s);
      log(
        `${mode}: ${result.per_s}/s, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, ${result.errors} errors`,
      );
      modes.push(result);
    }
    const preparedLeft = await bench.preparedLeft();
    const rss = Object.fromEntries(
      CONSULT_SERVICES.map((s) => {
        const mb = bench.cluster.processes[s].peakRssMb();
        return [s, mb === undefined ? null : round(mb)];
      }),
    ) as Record<ConsultServiceName, number | null>;
    const peaks = Object.values(rss).filter((v): v is number => v !== null);
    const by = (mode: CompletionMode): ModeResult => modes.find((m) => m.mode === mode)!;
    const three = by('3pc');
    const two = by('2pc');
    const none = by('uncoordinated');
    return {
      scenario: '3pc',
      concurrency,
      duration_s: durationS,
      completed: three.completed,
      throughput_per_s: three.per_s,
      p50_ms: three.p50_ms,
      p99_ms: three.p99_ms,
      errors: modes.reduce((n, m) => n + m.errors + m.warmup_errors, 0),
      threepc_per_s: three.per_s,
      twopc_per_s: two.per_s,
      uncoordinated_per_s: none.per_s,
      three_vs_two_ratio: ratio(three.per_s, two.per_s),
      twopc_vs_uncoordinated_ratio: ratio(two.per_s, none.per_s),
      threepc_vs_uncoordinated_ratio: ratio(three.per_s, none.per_s),
      threepc_p50_ms: three.p50_ms,
      threepc_p99_ms: three.p99_ms,
      twopc_p50_ms: two.p50_ms,
      twopc_p99_ms: two.p99_ms,
      uncoordinated_p50_ms: none.p50_ms,
      uncoordinated_p99_ms: none.p99_ms,
      threepc_errors: three.errors + three.warmup_errors,
      twopc_errors: two.errors + two.warmup_errors,
      uncoordinated_errors: none.errors + none.warmup_errors,
      incomplete: modes.reduce((n, m) => n + m.incomplete, 0),
      prepared_left: preparedLeft,
      peak_rss_mb: peaks.length > 0 ? Math.max(...peaks) : null,
      peak_rss_mb_by_service: rss,
      warmup_s: warmupS,
      modes,
    };
  } finally {
    await bench.stop();
  }
}
