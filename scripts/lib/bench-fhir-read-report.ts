// The readable report of `npm run bench -- fhir-read` (its tables on stdout before the JSON line).
import type { BenchFhirReadResult } from './bench-fhir-read';
import { formatTable } from './bench-report';

const fmt = (value: number | null | undefined, digits = 1): string =>
  value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);

/** The title, tables and first errors of a fhir-read run. */
export function fhirReadReport(r: BenchFhirReadResult): {
  title: string;
  tables: string[];
  errors: string[];
} {
  return {
    title: `Bench: fhir-read — patient reads and searches through the gateway and straight to the EMR, ${r.concurrency} clients, ${r.duration_s} s per path, ${r.patients} patients${r.authorized ? ', with tokens' : ', no tokens'}`,
    tables: [
      formatTable(
        ['path', 'completed', 'per second', 'p50 ms', 'p99 ms', 'errors', 'reads', 'searches'],
        r.paths.map((p) => [
          p.path === 'direct' ? 'straight to the EMR' : 'through the gateway',
          String(p.completed),
          fmt(p.per_s),
          fmt(p.p50_ms, 2),
          fmt(p.p99_ms, 2),
          String(p.errors + p.warmup_errors),
          String(p.reads),
          String(p.searches),
        ]),
      ),
      formatTable(
        ['figure', 'value'],
        [
          ['gateway_overhead_ratio (gateway / direct, target ≥ 0.7)', fmt(r.gateway_overhead_ratio, 3)],
          ['added p50 latency of the hop, ms', fmt(r.added_p50_ms, 2)],
          ['peak RSS MiB: emr / gateway', `${fmt(r.peak_rss_mb.emr)} / ${fmt(r.peak_rss_mb.gateway)}`],
        ],
      ),
      formatTable(
        ['CPU ms per request', ...r.paths.map((p) => p.path)],
        ['emr', 'gateway', 'postgres', 'bench_client'].map((name) => [
          name,
          ...r.paths.map((p) => fmt(p.cpu_ms_per_request[name], 3)),
        ]),
      ),
      formatTable(
        ['process', ...r.paths.map((p) => `CPU % (${p.path})`)],
        [
          ...['emr', 'gateway'].map((name) => [
            name,
            ...r.paths.map((p) => fmt(p.cpu_percent.services[name])),
          ]),
          ['postgres (whole cluster)', ...r.paths.map((p) => fmt(p.cpu_percent.postgres))],
          ['bench client', ...r.paths.map((p) => fmt(p.cpu_percent.client))],
          ['other processes on the machine', ...r.paths.map((p) => fmt(p.cpu_percent.other))],
        ],
      ),
    ],
    errors: r.paths.flatMap((p) => p.error_samples).slice(0, 5),
  };
}
