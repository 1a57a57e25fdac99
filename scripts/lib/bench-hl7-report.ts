// The readable report of `npm run bench -- hl7` (its tables on stdout before the JSON line).
import { type BenchHl7Result, PANEL_SIZES } from './bench-hl7';
import { formatTable } from './bench-report';

const fmt = (value: number | null | undefined, digits = 1): string =>
  value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);

/** The title, tables and first errors of an hl7 run. */
export function hl7Report(r: BenchHl7Result): { title: string; tables: string[]; errors: string[] } {
  const e = r.errors_by_kind;
  const cpu = r.cpu_percent;
  return {
    title: `Bench: hl7 — laboratory results (ORU^R01, panels of ${PANEL_SIZES} OBX) over MLLP into the LIS's FHIR store, ${r.concurrency} analyzer connections, ${r.duration_s} s`,
    tables: [
      formatTable(
        ['figure', 'value'],
        [
          ['results acknowledged AA', String(r.completed)],
          ['results per second (throughput_per_s)', fmt(r.throughput_per_s)],
          ['Observations per second', fmt(r.observations_per_s)],
          ['ACK p50 / p99 ms', `${fmt(r.p50_ms, 2)} / ${fmt(r.p99_ms, 2)}`],
          [
            'errors (AE · AR · other ACK · no ACK)',
            `${r.errors} (${e.AE} · ${e.AR} · ${e.other_ack} · ${e.no_ack})`,
          ],
          ['warm-up results / errors', `${r.warmup_completed} / ${r.warmup_errors}`],
          ['OBX per result', fmt(r.observations_per_result, 2)],
          ['missing (acknowledged, not all in the store)', String(r.missing)],
          ['extra (more than sent, or written twice)', String(r.extra)],
          ['failed at the bench but applied', String(r.check.applied_unacknowledged)],
          [
            'store: DiagnosticReports · Observations · inbox rows',
            `${r.check.reports} · ${r.check.observations} · ${r.check.inbox_rows}`,
          ],
          [
            'orders seeded',
            `${r.orders_seeded}${r.orders_exhausted ? ' (all used: the phase ended early)' : ''}`,
          ],
          ['MLLP connections opened', String(r.connections)],
          ['peak RSS of the LIS, MiB', fmt(r.peak_rss_mb.lis)],
        ],
      ),
      formatTable(
        ['process', 'CPU ms per result', 'CPU %'],
        [
          ['lis', fmt(r.cpu_ms_per_result.lis, 3), fmt(cpu.services.lis)],
          ['postgres (whole cluster)', fmt(r.cpu_ms_per_result.postgres, 3), fmt(cpu.postgres)],
          ['bench client', fmt(r.cpu_ms_per_result.bench_client, 3), fmt(cpu.client)],
          ['other processes on the machine', '-', fmt(cpu.other)],
          [
            `machine busy (${cpu.cores} cores = ${cpu.cores * 100}%)`,
            '-',
            fmt(cpu.machine_busy === null ? null : cpu.machine_busy * cpu.cores),
          ],
        ],
      ),
    ],
    errors: r.error_samples,
  };
}
