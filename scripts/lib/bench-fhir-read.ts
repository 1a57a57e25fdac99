// The `fhir-read` bench: patient reads and searches through the gateway, and the same requests straight to
// the EMR, in one run on one machine, to price the gateway's hop. `patients` synthetic patients are
// seeded in the EMR (untimed); then, after a warm-up of each path, `concurrency` closed-loop clients run
// for `duration` seconds per path, split into two rounds per path taken in turn (direct, gateway, direct,
// gateway) so that a drift of the machine's load over the run weighs on both alike. Each operation is a
// read of a random patient (`GET /fhir/Patient/<id>`, 4 in 5) or a search by its identifier
// (`GET /fhir/Patient?identifier=…`, 1 in 5), answered 200 with that patient. Every request carries the
// Authorization header `benchAuthorization()` gives.
import { randomInt } from 'node:crypto';
import type { Agent } from 'node:http';
import { devAuthorization, findService, repositoryRoot, serviceEntry, serviceEnv } from '../services';
import { recreateDatabases } from './bench-cluster';
import { cpuSnapshot, cpuUse, type CpuUse } from './bench-cpu';
import { failureSummary, getJson, keepAliveAgent, postFhir } from './bench-http';
import { type Outcome, runLoad } from './bench-load';
import { type BenchResultBase, type BenchRunOptions, Latencies, percentile, round } from './bench-report';
import { ServiceProcess } from './service-process';

/** The bench's ports (the EMR, the gateway, and the LIS and PACS a new patient is synced to) and databases. */
export const BENCH_FHIR_READ_PORTS = { emr: 4300, gateway: 4301, lis: 4302, pacs: 4303 } as const;
export const BENCH_FHIR_READ_SUFFIX = 'benchfhirread';
const database = (name: 'emr' | 'lis' | 'pacs'): string => `hospital_${name}_${BENCH_FHIR_READ_SUFFIX}`;
/** Synthetic patients seeded before measuring. */
export const BENCH_FHIR_READ_PATIENTS = 1_000;
const IDENTIFIER_SYSTEM = 'urn:oid:1.2.36.146.595.217.0.1';
/** Rounds per path: the timed phases alternate direct, gateway, direct, gateway. */
const ROUNDS = 2;

/**
 * The Authorization header of every request the bench sends (seeding included): a clinician's bearer
 * token of the development issuer, which every service the bench starts trusts, minted once per run.
 */
export function benchAuthorization(): string | undefined {
  return devAuthorization('clinician');
}

export type ReadPath = 'direct' | 'gateway';

export interface PathResult {
  path: ReadPath;
  completed: number;
  per_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  elapsed_s: number;
  warmup_completed: number;
  warmup_errors: number;
  reads: number;
  searches: number;
  /** CPU of the timed rounds, percent of one core (the gateway is idle on the direct path). */
  cpu_percent: CpuUse;
  /**
   * CPU milliseconds per completed request, by process: steadier than throughput on a shared machine,
   * where other processes take a varying share of the cores.
   */
  cpu_ms_per_request: Record<string, number | null>;
  error_samples: string[];
}

export interface BenchFhirReadResult extends BenchResultBase {
  scenario: 'fhir-read';
  /** Through the gateway: `throughput_per_s`, `p50_ms`, `p99_ms` above; straight to the EMR: */
  direct_per_s: number;
  direct_p50_ms: number;
  direct_p99_ms: number;
  /** throughput_per_s / direct_per_s (target ≥ 0.7). */
  gateway_overhead_ratio: number;
  /** Median added latency of the hop, ms (gateway p50 − direct p50). */
  added_p50_ms: number;
  gateway_errors: number;
  direct_errors: number;
  patients: number;
  authorized: boolean;
  warmup_s: number;
  peak_rss_mb: { emr: number | null; gateway: number | null };
  paths: PathResult[];
}

interface Seeded {
  id: string;
  mrn: string;
}

class FhirReadBench {
  private emr?: ServiceProcess;
  private gateway?: ServiceProcess;
  /** The record update's participants: the EMR syncs each new patient to them (seeding only). */
  private readonly departments: ServiceProcess[] = [];
  private readonly agent: Agent;
  readonly patients: Seeded[] = [];
  private readonly authorization = benchAuthorization();

  constructor(private readonly options: BenchRunOptions) {
    this.agent = keepAliveAgent(Math.max(options.concurrency, 8));
  }

  base(path: ReadPath): string {
    return `http://127.0.0.1:${BENCH_FHIR_READ_PORTS[path === 'direct' ? 'emr' : 'gateway']}/fhir`;
  }

  get processes(): Record<string, ServiceProcess> {
    const all: Record<string, ServiceProcess> = {};
    if (this.emr) all.emr = this.emr;
    if (this.gateway) all.gateway = this.gateway;
    return all;
  }

  async start(): Promise<void> {
    const { log } = this.options;
    await recreateDatabases(
      (['emr', 'lis', 'pacs'] as const).map((name) => ({
        database: database(name),
        migrations: findService(name).migrations,
      })),
      log,
    );
    // The run's service keys and peers (serviceEnv), on the bench's ports.
    const url = (port: number): string => `http://127.0.0.1:${port}`;
    const common = {
      LOG_LEVEL: 'warn',
      EMR_URL: url(BENCH_FHIR_READ_PORTS.emr),
      LIS_URL: url(BENCH_FHIR_READ_PORTS.lis),
      PACS_URL: url(BENCH_FHIR_READ_PORTS.pacs),
    };
    for (const name of ['lis', 'pacs'] as const) {
      log(`starting ${name} on port ${BENCH_FHIR_READ_PORTS[name]}…`);
      this.departments.push(
        await ServiceProcess.start({
          name,
          entry: serviceEntry(name),
          env: serviceEnv(name, {
            ...common,
            PORT: String(BENCH_FHIR_READ_PORTS[name]),
            PGDATABASE: database(name),
          }),
          port: BENCH_FHIR_READ_PORTS[name],
          cwd: repositoryRoot(),
        }),
      );
    }
    log(`starting emr on port ${BENCH_FHIR_READ_PORTS.emr}…`);
    this.emr = await ServiceProcess.start({
      name: 'emr',
      entry: serviceEntry('emr'),
      env: serviceEnv('emr', {
        ...common,
        PORT: String(BENCH_FHIR_READ_PORTS.emr),
        PGDATABASE: database('emr'),
      }),
      port: BENCH_FHIR_READ_PORTS.emr,
      cwd: repositoryRoot(),
      execArgv: this.options.serviceExecArgv,
    });
    log(`starting gateway on port ${BENCH_FHIR_READ_PORTS.gateway} in front of it…`);
    this.gateway = await ServiceProcess.start({
      name: 'gateway',
      entry: serviceEntry('gateway'),
      env: serviceEnv('gateway', {
        ...common,
        PORT: String(BENCH_FHIR_READ_PORTS.gateway),
        GATEWAY_BACKENDS: 'emr',
        // One client machine: the limit stays on (its cost is measured) but never refuses the bench.
        RATE_LIMIT_PER_SECOND: '1000000',
        RATE_LIMIT_BURST: '1000000',
        GATEWAY_CONNECTIONS: String(Math.max(this.options.concurrency, 8)),
      }),
      port: BENCH_FHIR_READ_PORTS.gateway,
      cwd: repositoryRoot(),
      execArgv: this.options.serviceExecArgv,
    });
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    await Promise.all([this.gateway?.stop(), this.emr?.stop(), ...this.departments.map((d) => d.stop())]);
  }

  /** Creates `count` patients in the EMR (untimed, 16 side by side). */
  async seed(count: number): Promise<void> {
    const started = performance.now();
    let next = 0;
    const seeder = async (): Promise<void> => {
      while (next < count) {
        next += 1;
        const mrn = `FHIRREAD-${next}-${randomInt(1e9)}`;
        const answer = await postFhir(
          `${this.base('direct')}/Patient`,
          {
            resourceType: 'Patient',
            identifier: [{ system: IDENTIFIER_SYSTEM, value: mrn }],
            name: [{ family: `Synthetic${next % 997}`, given: ['Bench'] }],
            gender: next % 2 === 0 ? 'female' : 'male',
            birthDate: `19${String(40 + (next % 60)).padStart(2, '0')}-0${1 + (next % 9)}-1${next % 10}`,
          },
          { agent: this.agent, authorization: this.authorization },
        );
        if (answer.status !== 201) throw new Error(`seeding a patient failed: ${failureSummary(answer)}`);
        this.patients.push({ id: (JSON.parse(answer.body) as { id: string }).id, mrn });
      }
    };
    await Promise.all(Array.from({ length: 16 }, seeder));
    this.options.log(`${count} patients seeded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }

  /** `concurrency` clients reading and searching patients on `path` for `durationMs`. */
  async run(
    path: ReadPath,
    durationMs: number,
    counts: { reads: number; searches: number },
    onProgress?: (p: { elapsedMs: number; completed: number; errors: number }) => void,
  ): Promise<{
    completed: number;
    errors: number;
    elapsedMs: number;
    latencies: Latencies;
    errorSamples: string[];
  }> {
    const base = this.base(path);
    const operation = async (): Promise<Outcome> => {
      const patient = this.patients[randomInt(this.patients.length)];
      const search = randomInt(5) === 0;
      const url = search
        ? `${base}/Patient?identifier=${encodeURIComponent(`${IDENTIFIER_SYSTEM}|${patient.mrn}`)}`
        : `${base}/Patient/${patient.id}`;
      const answer = await getJson(url, {
        agent: this.agent,
        authorization: this.authorization,
        timeoutMs: 30_000,
      });
      if (answer.status !== 200) return { ok: false, error: `${path}: ${failureSummary(answer)}` };
      // The answer must be the patient asked for (a search: a Bundle holding it).
      if (!answer.body.includes(`"id":"${patient.id}"`))
        return { ok: false, error: `${path}: wrong patient` };
      if (search) counts.searches += 1;
      else counts.reads += 1;
      return { ok: true };
    };
    const load = await runLoad({ concurrency: this.options.concurrency, durationMs, operation, onProgress });
    return {
      completed: load.completed,
      errors: load.errors,
      elapsedMs: load.elapsedMs,
      latencies: load.latencies,
      errorSamples: load.errorSamples,
    };
  }
}

interface PathTotals {
  completed: number;
  errors: number;
  elapsedMs: number;
  latencies: number[];
  counts: { reads: number; searches: number };
  warmupCompleted: number;
  warmupErrors: number;
  cpu: CpuUse[];
  errorSamples: string[];
}

const ratio = (a: number, b: number): number => (b > 0 ? round(a / b, 3) : NaN);

/** Averages per-round CPU figures, weighted equally (the rounds last the same). */
function meanCpu(uses: readonly CpuUse[]): CpuUse {
  const mean = (values: (number | null)[]): number | null => {
    const known = values.filter((v): v is number => v !== null);
    return known.length === 0 ? null : round(known.reduce((a, b) => a + b, 0) / known.length);
  };
  const first = uses[0];
  const services = Object.fromEntries(
    Object.keys(first?.services ?? {}).map((name) => [name, mean(uses.map((u) => u.services[name] ?? null))]),
  );
  return {
    services,
    postgres: mean(uses.map((u) => u.postgres)) ?? 0,
    client: mean(uses.map((u) => u.client)) ?? 0,
    machine_busy: mean(uses.map((u) => u.machine_busy)),
    other: mean(uses.map((u) => u.other)),
    cores: first?.cores ?? 0,
  };
}

export async function runBenchFhirRead(options: BenchRunOptions): Promise<BenchFhirReadResult> {
  const { concurrency, durationS, warmupS, log } = options;
  const bench = new FhirReadBench(options);
  try {
    await bench.start();
    await bench.seed(BENCH_FHIR_READ_PATIENTS);
    const totals: Record<ReadPath, PathTotals> = {
      direct: emptyTotals(),
      gateway: emptyTotals(),
    };
    for (const path of ['direct', 'gateway'] as const) {
      const warm = options.phase(`${path} warm-up`, warmupS);
      const warmup = await bench.run(path, warmupS * 1000, { reads: 0, searches: 0 }, (p) => warm.update(p));
      warm.done();
      totals[path].warmupCompleted += warmup.completed;
      totals[path].warmupErrors += warmup.errors;
      totals[path].errorSamples.push(...warmup.errorSamples);
    }
    const roundS = durationS / ROUNDS;
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const path of ['direct', 'gateway'] as const) {
        const cpuFrom = cpuSnapshot(bench.processes);
        const bar = options.phase(`${path} ${round}/${ROUNDS}`, roundS);
        const result = await bench.run(path, roundS * 1000, totals[path].counts, (p) => bar.update(p));
        bar.done();
        const t = totals[path];
        t.cpu.push(cpuUse(cpuFrom, cpuSnapshot(bench.processes)));
        t.completed += result.completed;
        t.errors += result.errors;
        t.elapsedMs += result.elapsedMs;
        t.latencies = t.latencies.concat(result.latencies.sorted());
        t.errorSamples.push(...result.errorSamples);
      }
    }
    const paths = (['direct', 'gateway'] as const).map((path): PathResult => {
      const t = totals[path];
      const sorted = [...t.latencies].sort((a, b) => a - b);
      const elapsedS = t.elapsedMs / 1000;
      const cpu = meanCpu(t.cpu);
      const perRequest = (percent: number | null): number | null =>
        percent === null || t.completed === 0
          ? null
          : round(((percent / 100) * t.elapsedMs) / t.completed, 3);
      const result: PathResult = {
        path,
        completed: t.completed,
        per_s: round(t.completed / elapsedS),
        p50_ms: round(percentile(sorted, 50), 2),
        p99_ms: round(percentile(sorted, 99), 2),
        errors: t.errors,
        elapsed_s: round(elapsedS, 2),
        warmup_completed: t.warmupCompleted,
        warmup_errors: t.warmupErrors,
        reads: t.counts.reads,
        searches: t.counts.searches,
        cpu_percent: cpu,
        cpu_ms_per_request: {
          emr: perRequest(cpu.services.emr ?? null),
          gateway: perRequest(cpu.services.gateway ?? null),
          postgres: perRequest(cpu.postgres),
          bench_client: perRequest(cpu.client),
        },
        error_samples: t.errorSamples.slice(0, 5),
      };
      log(
        `${path}: ${result.per_s}/s, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, ${result.errors} errors`,
      );
      return result;
    });
    const [direct, gateway] = paths as [PathResult, PathResult];
    const rss = (name: 'emr' | 'gateway'): number | null => {
      const mb = bench.processes[name]?.peakRssMb();
      return mb === undefined ? null : round(mb);
    };
    return {
      scenario: 'fhir-read',
      concurrency,
      duration_s: durationS,
      completed: gateway.completed,
      throughput_per_s: gateway.per_s,
      p50_ms: gateway.p50_ms,
      p99_ms: gateway.p99_ms,
      errors: paths.reduce((n, p) => n + p.errors + p.warmup_errors, 0),
      direct_per_s: direct.per_s,
      direct_p50_ms: direct.p50_ms,
      direct_p99_ms: direct.p99_ms,
      gateway_overhead_ratio: ratio(gateway.per_s, direct.per_s),
      added_p50_ms: round(gateway.p50_ms - direct.p50_ms, 2),
      gateway_errors: gateway.errors + gateway.warmup_errors,
      direct_errors: direct.errors + direct.warmup_errors,
      patients: bench.patients.length,
      authorized: benchAuthorization() !== undefined,
      warmup_s: warmupS,
      peak_rss_mb: { emr: rss('emr'), gateway: rss('gateway') },
      paths,
    };
  } finally {
    await bench.stop();
  }
}

function emptyTotals(): PathTotals {
  return {
    completed: 0,
    errors: 0,
    elapsedMs: 0,
    latencies: [],
    counts: { reads: 0, searches: 0 },
    warmupCompleted: 0,
    warmupErrors: 0,
    cpu: [],
    errorSamples: [],
  };
}
