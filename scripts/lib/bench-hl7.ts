// The `hl7` bench: laboratory results per second through the LIS's MLLP listener into its FHIR store. The
// LIS runs as a real process from dist/ on its own database (`hospital_lis_benchhl7`); laboratory orders
// are seeded in it untimed (bench-hl7-seed.ts); then `concurrency` analyzer connections, each persistent
// and closed loop, send one final ORU^R01 per order (a distinct MSH-10, a panel of 3 to 8 OBX) for
// `duration` seconds after a warm-up. A result counts when the LIS answers it AA, which it does after the
// transaction holding the inbox row, the Observations, the DiagnosticReport, the order's new status, the
// event for the EMR and the audit record has committed. Afterwards the store is checked against what was
// acknowledged (bench-hl7-check.ts).
import { randomBytes } from 'node:crypto';
import type { Hl7Message } from '@medplum/core';
import { findService } from '../services';
import { recreateDatabases, runDatabaseName, ServiceCluster } from './bench-cluster';
import { cpuSnapshot, cpuUse, type CpuUse } from './bench-cpu';
import { checkResults, type ResultCheck, type SentResult } from './bench-hl7-check';
import { NoAckError, PersistentMllpClient } from './bench-hl7-client';
import { BENCH_PANELS, benchResult } from './bench-hl7-messages';
import { OrderSeeder, OrderSink, ordersDelivered, type SeededOrder } from './bench-hl7-seed';
import { type LoadResult, type Outcome, runLoad } from './bench-load';
import {
  type BenchResultBase,
  type BenchRunOptions,
  type LoadProgress,
  percentile,
  round,
} from './bench-report';
import { portInUse } from './service-process';

/** The bench's ports: the cluster's base (the LIS's HTTP on 4852), the LIS's MLLP listener, the order sink. */
export const BENCH_HL7_PORTS = { portBase: 4850, lis: 4852, listener: 4860, analyzer: 4861 } as const;
export const BENCH_HL7_SUFFIX = 'benchhl7';
/** How long an analyzer connection waits for an ACK before it counts an error and reconnects. */
const ACK_TIMEOUT_MS = 10_000;
/** Orders seeded before the warm-up; more are seeded after it, from the warm-up's rate. */
const INITIAL_ORDERS = 2_000;

export interface BenchHl7Result extends BenchResultBase {
  scenario: 'hl7';
  warmup_s: number;
  warmup_completed: number;
  warmup_errors: number;
  elapsed_s: number;
  /** Errors of the timed phase by kind: AE / AR answers, no ACK in time or a broken connection. */
  errors_by_kind: { AE: number; AR: number; other_ack: number; no_ack: number };
  /** OBX segments per acknowledged result, on average (the panels hold 3, 4, 6 and 8). */
  observations_per_result: number;
  /** Observations stored per second in the timed phase (throughput × OBX per result). */
  observations_per_s: number;
  orders_seeded: number;
  /** The timed phase ran out of seeded orders before its end (then it is shorter than asked). */
  orders_exhausted: boolean;
  /** MLLP connections opened in all (the clients' first ones included). */
  connections: number;
  missing: number;
  extra: number;
  check: ResultCheck;
  /** CPU of the timed phase, percent of one core. */
  cpu_percent: CpuUse;
  /** CPU milliseconds per acknowledged result in the timed phase. */
  cpu_ms_per_result: { lis: number | null; postgres: number | null; bench_client: number | null };
  peak_rss_mb: { lis: number | null };
  error_samples: string[];
}

type ErrorKind = keyof BenchHl7Result['errors_by_kind'];

/** The analyzer side of a run: the pool of orders without a result yet, the connections, what was sent. */
class ResultSender {
  readonly sent = new Map<string, SentResult>();
  readonly errorsByKind: Record<ErrorKind, number> = { AE: 0, AR: 0, other_ack: 0, no_ack: 0 };
  private readonly pool: SeededOrder[] = [];
  private readonly clients: PersistentMllpClient[];
  private readonly run = randomBytes(3).toString('hex');
  private sequence = 0;
  private counting = false;

  constructor(concurrency: number) {
    this.clients = Array.from(
      { length: concurrency },
      () => new PersistentMllpClient('127.0.0.1', BENCH_HL7_PORTS.listener, ACK_TIMEOUT_MS),
    );
  }

  add(orders: readonly SeededOrder[]): void {
    this.pool.push(...orders);
  }

  get remaining(): number {
    return this.pool.length;
  }

  get connections(): number {
    return this.clients.reduce((n, c) => n + c.connections, 0);
  }

  /** `concurrency` connections sending results for `durationMs` (or until the pool is empty). */
  async load(
    durationMs: number,
    counted: boolean,
    onProgress: (p: LoadProgress) => void,
  ): Promise<LoadResult> {
    this.counting = counted;
    return runLoad({
      concurrency: this.clients.length,
      durationMs,
      operation: (worker) => this.sendOne(worker),
      onProgress,
      done: () => this.pool.length === 0,
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }

  private async sendOne(worker: number): Promise<Outcome> {
    const order = this.pool.pop();
    if (!order) return { ok: false, refused: true };
    this.sequence += 1;
    const controlId = `H${this.run}${String(this.sequence).padStart(8, '0')}`;
    const result: SentResult = { observations: order.panel.analytes.length, acknowledged: false };
    this.sent.set(order.id, result);
    let ack: Hl7Message;
    try {
      ack = await this.clients[worker].send(benchResult(order.id, order.panel, controlId));
    } catch (error) {
      return this.failed('no_ack', error instanceof NoAckError ? error.message : String(error));
    }
    const msa = ack.getSegment('MSA');
    const code = msa?.getField(1)?.toString() ?? '';
    if (code === 'AA' && msa?.getField(2)?.toString() === controlId) {
      result.acknowledged = true;
      if (msa.getField(3)?.toString() !== 'applied')
        return this.failed('other_ack', `AA but not applied: ${msa.getField(3)?.toString() ?? ''}`);
      return { ok: true };
    }
    const kind: ErrorKind = code === 'AE' || code === 'AR' ? code : 'other_ack';
    const where = ack.getSegment('ERR');
    return this.failed(
      kind,
      `${code} ${where?.getField(3)?.getComponent(1) ?? ''} at ${where?.getField(2)?.toString() ?? '-'}`,
    );
  }

  private failed(kind: ErrorKind, error: string): Outcome {
    if (this.counting) this.errorsByKind[kind] += 1;
    return { ok: false, error };
  }
}

export async function runBenchHl7(options: BenchRunOptions): Promise<BenchHl7Result> {
  const { concurrency, durationS, warmupS, log } = options;
  const database = runDatabaseName('lis', BENCH_HL7_SUFFIX);
  const cluster = new ServiceCluster({
    suffix: BENCH_HL7_SUFFIX,
    portBase: BENCH_HL7_PORTS.portBase,
    execArgv: options.serviceExecArgv,
    env: {
      LOG_LEVEL: 'warn',
      MESSAGING_NAMESPACE: `benchhl7-${randomBytes(4).toString('hex')}`,
      HL7_LISTEN_PORT: String(BENCH_HL7_PORTS.listener),
      ANALYZER_MLLP_HOST: '127.0.0.1',
      ANALYZER_MLLP_PORT: String(BENCH_HL7_PORTS.analyzer),
    },
    log,
  });
  await cluster.assertPortsFree();
  for (const port of [BENCH_HL7_PORTS.listener, BENCH_HL7_PORTS.analyzer])
    if (await portInUse(port)) throw new Error(`port ${port} already in use: another hl7 bench is running`);
  const sink = new OrderSink();
  const sender = new ResultSender(concurrency);
  try {
    await recreateDatabases([{ database, migrations: findService('lis').migrations }], log);
    await sink.start(BENCH_HL7_PORTS.analyzer);
    log(`starting lis on port ${BENCH_HL7_PORTS.lis}, MLLP listener ${BENCH_HL7_PORTS.listener}…`);
    const lis = await cluster.start('lis');
    const seeder = new OrderSeeder(cluster.url('lis'));
    let seeded = 0;
    const seed = async (count: number): Promise<void> => {
      const started = performance.now();
      const orders = await seeder.seed(count);
      seeded += orders.length;
      await ordersDelivered(sink, seeded, 60_000 + seeded * 20);
      sender.add(orders);
      log(
        `${orders.length} orders seeded and sent to the analyzer in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    };
    await seed(Math.max(INITIAL_ORDERS, concurrency * 50));

    const warmBar = options.phase('warm-up', warmupS);
    const warmup = await sender.load(warmupS * 1000, false, (p) => warmBar.update(p));
    warmBar.done();
    // Enough orders for twice the warm-up's rate over the whole timed phase.
    const rate = warmup.completed / (warmup.elapsedMs / 1000);
    const wanted = Math.ceil(rate * durationS * 2) + concurrency * 20 - sender.remaining;
    if (wanted > 0) await seed(wanted);

    const cpuFrom = cpuSnapshot({ lis });
    const bar = options.phase('results over MLLP', durationS);
    const timed = await sender.load(durationS * 1000, true, (p) => bar.update(p));
    bar.done();
    const cpu = cpuUse(cpuFrom, cpuSnapshot({ lis }));
    const exhausted = sender.remaining === 0;
    await sender.close();

    const check = await checkResults(database, sender.sent);
    const elapsedS = timed.elapsedMs / 1000;
    const sorted = timed.latencies.sorted();
    const perResult = (percent: number | null): number | null =>
      percent === null || timed.completed === 0
        ? null
        : round(((percent / 100) * timed.elapsedMs) / timed.completed, 3);
    const acknowledged = [...sender.sent.values()].filter((r) => r.acknowledged);
    const obxPerResult =
      acknowledged.reduce((n, r) => n + r.observations, 0) / Math.max(1, acknowledged.length);
    const throughput = round(timed.completed / elapsedS);
    log(
      `${throughput} results/s, p99 ${round(percentile(sorted, 99), 2)} ms, ${timed.errors} errors, missing ${check.missing}, extra ${check.extra}`,
    );
    const rss = lis.peakRssMb();
    return {
      scenario: 'hl7',
      concurrency,
      duration_s: durationS,
      completed: timed.completed,
      throughput_per_s: throughput,
      p50_ms: round(percentile(sorted, 50), 2),
      p99_ms: round(percentile(sorted, 99), 2),
      errors: timed.errors,
      warmup_s: warmupS,
      warmup_completed: warmup.completed,
      warmup_errors: warmup.errors,
      elapsed_s: round(elapsedS, 2),
      errors_by_kind: sender.errorsByKind,
      observations_per_result: round(obxPerResult, 2),
      observations_per_s: round(throughput * obxPerResult),
      orders_seeded: seeded,
      orders_exhausted: exhausted,
      connections: sender.connections,
      missing: check.missing,
      extra: check.extra,
      check,
      cpu_percent: cpu,
      cpu_ms_per_result: {
        lis: perResult(cpu.services.lis ?? null),
        postgres: perResult(cpu.postgres),
        bench_client: perResult(cpu.client),
      },
      peak_rss_mb: { lis: rss === undefined ? null : round(rss) },
      error_samples: [...warmup.errorSamples, ...timed.errorSamples].slice(0, 5),
    };
  } finally {
    await sender.close();
    await cluster.stopAll();
    await sink.stop();
  }
}

/** The panels' sizes, for the report's title. */
export const PANEL_SIZES = BENCH_PANELS.map((p) => p.analytes.length).join('/');
