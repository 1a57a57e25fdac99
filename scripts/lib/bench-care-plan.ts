// The `care-plan` and `paper` benches: multidisciplinary treatment plans booked through care-plans in one of
// its three modes (saga, quota-saga, tcc) by closed-loop clients, each plan a consult slot at appointments,
// a CT day at the PACS and a regimen of a drug at the pharmacy's inventory. Failures are injected in the
// second paper's proportion — of the failing plans, 9 of 10 ask for a drug that is out of stock (the last
// step) and 1 of 10 for a CT day that is full (the middle step) — and are real refusals at the participants.
// An isolation probe polls the participants' main databases meanwhile and counts what a reader saw taken by
// a plan that ended revoked (`dirty_reads`). After the run the bench waits for the quota-cached saga's
// completions to be applied and checks every plan in the databases.
import { Agent } from 'node:http';
import { capacityAccountingViolations } from '@hospital/transactions/testing/capacity-accounting';
import { Client } from 'pg';
import { clientConfig, withClient } from './bench-cluster';
import { cpuSnapshot, cpuUse, type CpuUse } from './bench-cpu';
import { failureSummary, keepAliveAgent } from './bench-http';
import { runLoad, type Outcome } from './bench-load';
import { type BenchResultBase, type BenchRunOptions, Latencies, percentile, round } from './bench-report';
import {
  CarePlanCluster,
  DAY_MS,
  FIRST_IMAGING_DAY,
  type PlanMode,
  type PlanSpec,
} from './care-plan-cluster';

/** The bench's ports: care-plans, then the EMR and the participants. */
export const CARE_PLAN_BENCH_BASE_PORT = 3460;

const DRUGS = 3;
const IMAGING_DAYS = 5;
const BIG = 10_000_000;
/** Units of a regimen. */
const QUANTITY = 2;
/** How long the bench waits for the completions of the quota-cached saga to be applied after a run. */
const DRAIN_TIMEOUT_MS = 60_000;
const PROBE_INTERVAL_MS = 50;

export interface CarePlanRunResult {
  mode: PlanMode;
  concurrency: number;
  error_rate: number;
  completed_plans: number;
  revoked_plans: number;
  /** Plans answered (active or revoked) per second. */
  plans_per_s: number;
  /** Plans answered active per second. */
  completed_per_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  elapsed_s: number;
  /** Claims a reader of the participants' databases saw applied for a plan that ended revoked. */
  dirty_reads: number;
  /** Claims still applied for revoked plans after the run, and resources whose level disagrees with its claims. */
  double_committed: number;
  /** Active plans missing an applied claim once everything settled. */
  lost: number;
  /** TCC holds or quota reservations of finished plans still outstanding after the drain. */
  stuck: number;
  drain_s: number;
  error_samples: string[];
}

export interface BenchCarePlanResult extends BenchResultBase, CarePlanRunResult {
  scenario: 'care-plan';
  cpu_percent: CpuUse;
  peak_rss_mb: Record<string, number | null>;
}

/**
 * What a reader of the participants' main databases saw: applied claims, by plan. One connection per
 * database for the whole run, polling every PROBE_INTERVAL_MS for claims applied since the last poll.
 */
class IsolationProbe {
  readonly seen = new Map<string, Set<string>>();
  private stopped = false;
  private running?: Promise<void>;
  private readonly clients: Client[];

  constructor(databases: readonly string[]) {
    this.clients = databases.map((database) => new Client(clientConfig(database)));
  }

  async start(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.connect()));
    let cursor = new Date(Date.now() - 1_000);
    this.running = (async () => {
      while (!this.stopped) {
        const next = new Date(Date.now() - 500);
        await Promise.all(this.clients.map((client) => this.poll(client, cursor)));
        cursor = next;
        await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
      }
    })();
  }

  private async poll(client: Client, since: Date): Promise<void> {
    const rows = await client
      .query<{ gtid: string; key: string }>(
        `SELECT gtid, key FROM tx_capacity_claim WHERE state = 'applied' AND updated_at >= $1`,
        [since],
      )
      .catch(() => ({ rows: [] }));
    for (const r of rows.rows) {
      const keys = this.seen.get(r.gtid) ?? new Set<string>();
      keys.add(r.key);
      this.seen.set(r.gtid, keys);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    await Promise.all(this.clients.map((c) => c.end()));
  }

  /** Claims seen applied for any of these plans. */
  count(gtids: ReadonlySet<string>): number {
    let n = 0;
    for (const [gtid, keys] of this.seen) if (gtids.has(gtid)) n += keys.size;
    return n;
  }
}

/** One plan's outcome as the bench saw it. */
interface Answered {
  gtid: string;
  outcome: 'active' | 'revoked';
}

/** The services, the resources plans draw from, and the runs. */
export class PlanBench {
  readonly cluster: CarePlanCluster;
  private slots: string[] = [];
  private readonly drugs: string[];
  private readonly days: string[];
  private readonly stockOut: string;
  private readonly fullDay: string;
  private readonly agent: Agent;

  constructor(
    private readonly options: Pick<BenchRunOptions, 'log' | 'serviceExecArgv'>,
    concurrency: number,
  ) {
    this.cluster = new CarePlanCluster({
      basePort: CARE_PLAN_BENCH_BASE_PORT,
      suffix: 'bench',
      log: options.log,
      execArgv: options.serviceExecArgv ? [...options.serviceExecArgv] : undefined,
      envOf: { 'care-plans': { CARE_PLAN_CALL_TIMEOUT_MS: '10000', CARE_PLAN_LEASE_MS: '30000' } },
    });
    const run = this.cluster.run;
    this.drugs = Array.from({ length: DRUGS }, (_, i) => `1000${i}${run}`);
    this.days = Array.from({ length: IMAGING_DAYS }, (_, i) =>
      new Date(FIRST_IMAGING_DAY + i * DAY_MS).toISOString().slice(0, 10),
    );
    this.stockOut = `9999${run}`;
    this.fullDay = '2030-01-01';
    this.agent = keepAliveAgent(Math.max(concurrency, 8));
  }

  async start(): Promise<void> {
    await this.cluster.start();
    for (const drug of this.drugs) await this.cluster.offer(`drug:${drug}@ward-3a`, BIG);
    await this.cluster.offer(`drug:${this.stockOut}@ward-3a`, 0);
    for (const day of this.days) await this.cluster.offer(`imaging:CT:${day}`, BIG);
    await this.cluster.offer(`imaging:CT:${this.fullDay}`, 0);
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    await this.cluster.stop();
  }

  /** Makes `count` more free consult slots available to plans (and, for the quota-cached saga, lends them). */
  async addSlots(count: number, mode: PlanMode): Promise<void> {
    const started = performance.now();
    const fresh = await this.cluster.createSlots(count);
    this.slots.push(...fresh);
    let note = '';
    if (mode === 'quota-saga') {
      const lent = await this.cluster.allocateQuota(
        [
          ...fresh.map((id) => `slot:${id}`),
          ...this.drugs.map((d) => `drug:${d}@ward-3a`),
          ...this.days.map((d) => `imaging:CT:${d}`),
        ],
        10_000,
      );
      note = `, ${lent} units lent to the quota caches`;
    }
    this.options.log(
      `${fresh.length} consult slots ready in ${((performance.now() - started) / 1000).toFixed(1)} s${note}`,
    );
  }

  get freeSlots(): number {
    return this.slots.length;
  }

  private plan(errorRate: number): PlanSpec | undefined {
    const slotId = this.slots.pop();
    if (slotId === undefined) return undefined;
    const r = Math.random() * 100;
    const failStock = r < errorRate * 0.9;
    const failImaging = !failStock && r < errorRate;
    return {
      slotId,
      practitionerId: this.cluster.practitionerIds[0],
      imaging: {
        modality: 'CT',
        day: failImaging ? this.fullDay : this.days[Math.floor(Math.random() * this.days.length)],
      },
      regimen: {
        drugCode: failStock ? this.stockOut : this.drugs[Math.floor(Math.random() * this.drugs.length)],
        location: 'ward-3a',
        quantity: QUANTITY,
      },
    };
  }

  /**
   * One measured run: `concurrency` clients booking plans in `mode` for `durationMs`, or until `plans` plans
   * were sent. Then the drain and the checks.
   */
  async measure(run: {
    mode: PlanMode;
    concurrency: number;
    errorRate: number;
    durationMs?: number;
    plans?: number;
    onProgress?: (p: { elapsedMs: number; completed: number; errors: number }) => void;
  }): Promise<CarePlanRunResult> {
    const answered: Answered[] = [];
    const latencies = new Latencies();
    let sent = 0;
    let exhausted = false;
    const operation = async (): Promise<Outcome> => {
      const plan = this.plan(run.errorRate);
      if (plan === undefined) {
        exhausted = true;
        await new Promise((resolve) => setTimeout(resolve, 50));
        return { ok: false, error: 'no free consult slot left' };
      }
      sent++;
      const answer = await this.cluster.book(plan, run.mode, { agent: this.agent, timeoutMs: 60_000 });
      if ((answer.status === 201 || answer.status === 409) && answer.gtid) {
        answered.push({ gtid: answer.gtid, outcome: answer.status === 201 ? 'active' : 'revoked' });
        latencies.add(answer.elapsedMs);
        return answer.status === 201 ? { ok: true } : { ok: false, refused: true };
      }
      return { ok: false, error: failureSummary(answer) };
    };
    const probe = new IsolationProbe(this.cluster.participantDatabases().map((d) => d.database));
    await probe.start();
    const total = run.plans;
    const load = await runLoad({
      concurrency: run.concurrency,
      durationMs: total === undefined ? (run.durationMs ?? 20_000) : 3_600_000,
      operation,
      onProgress: run.onProgress,
      done: total === undefined ? undefined : () => sent >= total,
    });
    if (exhausted) this.options.log('the consult slots ran out before the end of the run');
    const drainStarted = performance.now();
    const checked = await this.settle(answered);
    await probe.stop();
    const revoked = new Set(answered.filter((a) => a.outcome === 'revoked').map((a) => a.gtid));
    const sorted = latencies.sorted();
    const elapsedS = load.elapsedMs / 1000;
    const completed = answered.length - revoked.size;
    return {
      mode: run.mode,
      concurrency: run.concurrency,
      error_rate: run.errorRate,
      completed_plans: completed,
      revoked_plans: revoked.size,
      plans_per_s: round(answered.length / elapsedS),
      completed_per_s: round(completed / elapsedS),
      p50_ms: round(percentile(sorted, 50)),
      p99_ms: round(percentile(sorted, 99)),
      errors: load.errors,
      elapsed_s: round(elapsedS, 2),
      dirty_reads: probe.count(revoked),
      double_committed: checked.doubleCommitted,
      lost: checked.lost,
      stuck: checked.stuck,
      drain_s: round((performance.now() - drainStarted) / 1000),
      error_samples: load.errorSamples,
    };
  }

  /**
   * Waits until every active plan's three claims are applied (the quota-cached saga's completions travel
   * through RabbitMQ) and nothing is held for a finished plan, then checks the databases.
   */
  private async settle(
    answered: readonly Answered[],
  ): Promise<{ doubleCommitted: number; lost: number; stuck: number }> {
    const active = answered.filter((a) => a.outcome === 'active').map((a) => a.gtid);
    const revoked = answered.filter((a) => a.outcome === 'revoked').map((a) => a.gtid);
    const databases = this.cluster.participantDatabases().map((d) => d.database);
    const count = async (sql: string, gtids: string[]): Promise<number> => {
      let n = 0;
      for (const database of databases)
        n += await withClient(database, async (client) =>
          Number((await client.query<{ n: string }>(sql, [gtids])).rows[0].n),
        );
      return n;
    };
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    // Each active plan has one claim at each of the three participants.
    const fullyApplied = async () =>
      count(`SELECT count(*) AS n FROM tx_capacity_claim WHERE gtid = ANY($1) AND state = 'applied'`, active);
    while ((await fullyApplied()) < active.length * 3 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    const applied = await fullyApplied();
    const doubleApplied = await count(
      `SELECT count(*) AS n FROM tx_capacity_claim WHERE gtid = ANY($1) AND state = 'applied'`,
      revoked,
    );
    const held = await count(
      `SELECT count(*) AS n FROM tx_capacity_claim WHERE gtid = ANY($1) AND state = 'held'`,
      [...active, ...revoked],
    );
    let violations = 0;
    for (const database of databases)
      violations += await withClient(
        database,
        async (client) =>
          (
            await capacityAccountingViolations({
              query: async <T>(sql: string, params?: unknown[]) =>
                (await client.query(sql, params)).rows as T[],
            })
          ).length,
      );
    return {
      doubleCommitted: doubleApplied + violations + Math.max(0, applied - active.length * 3),
      lost: Math.max(0, active.length * 3 - applied),
      stuck: held,
    };
  }
}

export async function runBenchCarePlan(
  options: BenchRunOptions & { mode: PlanMode; errorRate: number },
): Promise<BenchCarePlanResult> {
  const { concurrency, durationS, warmupS, log } = options;
  const bench = new PlanBench(options, concurrency);
  try {
    await bench.start();
    await bench.addSlots(Math.ceil(Math.max(50, concurrency * 2) * (warmupS + 1)) + 200, options.mode);
    const warm = options.phase('warm-up', warmupS);
    const warmup = await bench.measure({
      mode: options.mode,
      concurrency,
      errorRate: options.errorRate,
      durationMs: warmupS * 1000,
      onProgress: (p) => warm.update(p),
    });
    warm.done();
    const rate = (warmup.completed_plans + warmup.revoked_plans) / Math.max(0.1, warmup.elapsed_s);
    await bench.addSlots(Math.ceil(Math.max(rate, 50) * 1.8 * durationS) + 200, options.mode);
    const measured = options.phase(`${options.mode} plans`, durationS);
    const processes = bench.cluster.processes;
    const cpuFrom = cpuSnapshot(processes);
    const result = await bench.measure({
      mode: options.mode,
      concurrency,
      errorRate: options.errorRate,
      durationMs: durationS * 1000,
      onProgress: (p) => measured.update(p),
    });
    const cpu = cpuUse(cpuFrom, cpuSnapshot(processes));
    measured.done();
    log(`drained in ${result.drain_s} s`);
    const peak: Record<string, number | null> = {};
    for (const [name, process] of Object.entries(processes)) {
      const rss = process.peakRssMb();
      peak[name] = rss === undefined ? null : round(rss);
    }
    return {
      scenario: 'care-plan',
      duration_s: durationS,
      completed: result.completed_plans,
      throughput_per_s: result.plans_per_s,
      ...result,
      cpu_percent: cpu,
      peak_rss_mb: peak,
    };
  } finally {
    await bench.stop();
  }
}
