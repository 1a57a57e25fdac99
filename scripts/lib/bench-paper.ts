// `npm run bench -- paper`: section 6 of the second paper (Daraghmi et al., the quota-cached saga) in one
// run. For each mode — the standard saga (the paper's version 1), the quota-cached saga (its version 2) and
// TCC — throughput at 1, 10, 15, 50, 100 and 150 concurrent clients for `--duration` seconds each, then the
// time to process 1,000 plans at 10 %, 40 % and 70 % errors (9 of 10 failures in the stock step, 1 of 10
// in the imaging step). Writes the table, with the paper's own figures beside ours, into
// docs/benchmarks.md between markers, and ends with one JSON line.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repositoryRoot } from '../services';
import { type CarePlanRunResult, PlanBench } from './bench-care-plan';
import { type BenchRunOptions, round } from './bench-report';
import { PLAN_MODES, type PlanMode } from './care-plan-cluster';

export const PAPER_CLIENTS = [1, 10, 15, 50, 100, 150] as const;
export const PAPER_ERROR_RATES = [10, 40, 70] as const;
const PAPER_PLANS = 1_000;
const PAPER_ERROR_CLIENTS = 150;

/**
 * The paper's own averages (section 6, 1-minute runs, orders per minute at each VU count) as orders per
 * second, with its one-second sleep between a VU's iterations: version 1 is the standard saga, version 2 the
 * quota-cached saga. Its error-scenario times are only drawn in figures 25–27, not stated as numbers.
 */
export const PAPER_PER_S: Record<'saga' | 'quota-saga', readonly number[]> = {
  saga: [297.5, 592.8, 781.5, 2400, 3170, 4378].map((perMinute) => perMinute / 60),
  'quota-saga': [299.5, 596.4, 887.3, 2928, 4442, 6393].map((perMinute) => perMinute / 60),
};

export interface BenchPaperResult {
  scenario: 'paper';
  duration_s: number;
  throughput: Record<PlanMode, { clients: number; plans_per_s: number; p99_ms: number; errors: number }[]>;
  error_runs: Record<PlanMode, { error_rate: number; seconds: number; completed: number; revoked: number }[]>;
  /** quota-saga ÷ saga plans/s at 150 clients (the paper: 6393 ÷ 4378 = 1.46). */
  quota_vs_saga_ratio: number;
  /** Plans answered per second at 150 clients, by mode. */
  plans_per_s: Record<PlanMode, number>;
  /** Over every run of the mode: claims a reader saw applied for plans that ended revoked. */
  dirty_reads: Record<PlanMode, number>;
  double_committed: Record<PlanMode, number>;
  lost: Record<PlanMode, number>;
  errors: number;
  /** At 40 % errors: what the standard saga let readers see. */
  saga_dirty_reads_at_40: number;
}

const START = '<!-- bench-paper:start -->';
const END = '<!-- bench-paper:end -->';

export async function runBenchPaper(options: BenchRunOptions): Promise<BenchPaperResult> {
  const { durationS, log } = options;
  const throughput = {} as BenchPaperResult['throughput'];
  const errorRuns = {} as BenchPaperResult['error_runs'];
  const all = {} as Record<PlanMode, CarePlanRunResult[]>;
  for (const mode of PLAN_MODES) {
    const bench = new PlanBench(options, Math.max(...PAPER_CLIENTS));
    throughput[mode] = [];
    errorRuns[mode] = [];
    all[mode] = [];
    try {
      await bench.start();
      let rate = 150;
      for (const clients of PAPER_CLIENTS) {
        const needed = Math.ceil(Math.max(rate, 50) * 1.8 * durationS) + 300;
        if (bench.freeSlots < needed) await bench.addSlots(needed - bench.freeSlots, mode);
        const phase = options.phase(`${mode} × ${clients}`, durationS);
        const r = await bench.measure({
          mode,
          concurrency: clients,
          errorRate: 0,
          durationMs: durationS * 1000,
          onProgress: (p) => phase.update(p),
        });
        phase.done();
        all[mode].push(r);
        rate = Math.max(rate, r.plans_per_s);
        throughput[mode].push({ clients, plans_per_s: r.plans_per_s, p99_ms: r.p99_ms, errors: r.errors });
        log(`${mode} × ${clients}: ${r.plans_per_s} plans/s, p99 ${r.p99_ms} ms, dirty ${r.dirty_reads}`);
      }
      for (const errorRate of PAPER_ERROR_RATES) {
        if (bench.freeSlots < PAPER_PLANS + 100) await bench.addSlots(PAPER_PLANS + 100, mode);
        const phase = options.phase(`${mode} 1000 @ ${errorRate}%`, 30);
        const r = await bench.measure({
          mode,
          concurrency: PAPER_ERROR_CLIENTS,
          errorRate,
          plans: PAPER_PLANS,
          onProgress: (p) => phase.update(p),
        });
        phase.done();
        all[mode].push(r);
        errorRuns[mode].push({
          error_rate: errorRate,
          seconds: r.elapsed_s,
          completed: r.completed_plans,
          revoked: r.revoked_plans,
        });
        log(`${mode} 1000 plans at ${errorRate}%: ${r.elapsed_s} s, dirty ${r.dirty_reads}`);
      }
    } finally {
      await bench.stop();
    }
  }
  const at150 = (mode: PlanMode) => throughput[mode][throughput[mode].length - 1].plans_per_s;
  const sum = (mode: PlanMode, field: 'dirty_reads' | 'double_committed' | 'lost' | 'errors') =>
    all[mode].reduce((n, r) => n + r[field], 0);
  const byMode = (f: (mode: PlanMode) => number) =>
    Object.fromEntries(PLAN_MODES.map((m) => [m, f(m)])) as Record<PlanMode, number>;
  const result: BenchPaperResult = {
    scenario: 'paper',
    duration_s: durationS,
    throughput,
    error_runs: errorRuns,
    quota_vs_saga_ratio: round(at150('quota-saga') / at150('saga'), 2),
    plans_per_s: byMode(at150),
    dirty_reads: byMode((m) => sum(m, 'dirty_reads')),
    double_committed: byMode((m) => sum(m, 'double_committed')),
    lost: byMode((m) => sum(m, 'lost')),
    errors: PLAN_MODES.reduce((n, m) => n + sum(m, 'errors'), 0),
    saga_dirty_reads_at_40: all.saga.find((r) => r.error_rate === 40)?.dirty_reads ?? 0,
  };
  writeDocs(result);
  log(`table written to docs/benchmarks.md`);
  return result;
}

/** The markdown tables of a run. */
export function paperTables(r: BenchPaperResult): string {
  const fmt = (n: number | undefined) => (n === undefined ? '–' : n.toFixed(1));
  const lines = [
    `Measured by \`npm run bench -- paper --duration=${r.duration_s}\` on ${new Date().toISOString().slice(0, 10)} (closed-loop clients, no think time; the paper's clients slept 1 s between orders, so its per-second figures are capped near the client count).`,
    '',
    '| clients | saga plans/s | quota-saga plans/s | tcc plans/s | paper v1 (saga) orders/s | paper v2 (quota) orders/s |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...PAPER_CLIENTS.map(
      (clients, i) =>
        `| ${clients} | ${fmt(r.throughput.saga[i]?.plans_per_s)} | ${fmt(r.throughput['quota-saga'][i]?.plans_per_s)} | ${fmt(r.throughput.tcc[i]?.plans_per_s)} | ${fmt(PAPER_PER_S.saga[i])} | ${fmt(PAPER_PER_S['quota-saga'][i])} |`,
    ),
    '',
    `quota-saga ÷ saga at 150 clients: **${r.quota_vs_saga_ratio}** (the paper: 1.46).`,
    '',
    '| 1,000 plans at | saga s | quota-saga s | tcc s | paper |',
    '| ---: | ---: | ---: | ---: | :--- |',
    ...PAPER_ERROR_RATES.map(
      (rate, i) =>
        `| ${rate} % errors | ${fmt(r.error_runs.saga[i]?.seconds)} | ${fmt(r.error_runs['quota-saga'][i]?.seconds)} | ${fmt(r.error_runs.tcc[i]?.seconds)} | figures 25–27 only (version 2 faster) |`,
    ),
    '',
    '| over all runs | saga | quota-saga | tcc |',
    '| :--- | ---: | ---: | ---: |',
    `| dirty_reads | ${r.dirty_reads.saga} | ${r.dirty_reads['quota-saga']} | ${r.dirty_reads.tcc} |`,
    `| double_committed | ${r.double_committed.saga} | ${r.double_committed['quota-saga']} | ${r.double_committed.tcc} |`,
    `| lost | ${r.lost.saga} | ${r.lost['quota-saga']} | ${r.lost.tcc} |`,
    '',
    `At 40 % errors the standard saga let a reader see ${r.saga_dirty_reads_at_40} reservations of plans that were then revoked.`,
  ];
  return lines.join('\n');
}

function writeDocs(r: BenchPaperResult): void {
  const path = join(repositoryRoot(), 'docs', 'benchmarks.md');
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  const block = `${START}\n${paperTables(r)}\n${END}`;
  const next =
    start >= 0 && end > start
      ? `${text.slice(0, start)}${block}${text.slice(end + END.length)}`
      : `${text.trimEnd()}\n\n## \`npm run bench -- paper\`\n\n${block}\n`;
  writeFileSync(path, next);
}
