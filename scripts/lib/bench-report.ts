// Plain-text tables and latency statistics for the bench and fault runners' stdout, and the shapes every
// bench scenario shares.

/** How far a load run has got, as its progress line shows it. */
export interface LoadProgress {
  elapsedMs: number;
  completed: number;
  errors: number;
}

/** A table with a header rule; numeric-looking cells are right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = /^[-+]?[\d.,]+( ?[a-z%/]+)?$|^-$/i;
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (numeric.test(cell) && i > 0 ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The p-th percentile (0–100) of `sorted` (ascending), nearest-rank; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Rounds to `digits` decimals (for the JSON line). */
export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** A growable array of latencies in ms. */
export class Latencies {
  private values: number[] = [];
  add(ms: number): void {
    this.values.push(ms);
  }
  get count(): number {
    return this.values.length;
  }
  sorted(): number[] {
    return [...this.values].sort((a, b) => a - b);
  }
}

/** Progress of one phase, shown by the caller (a cli-progress bar on stderr). */
export interface PhaseReporter {
  update(progress: LoadProgress): void;
  done(): void;
}

/** What every bench scenario is run with. */
export interface BenchRunOptions {
  concurrency: number;
  durationS: number;
  warmupS: number;
  log: (line: string) => void;
  phase: (name: string, durationS: number) => PhaseReporter;
  /** Options for node running each service (e.g. `--cpu-prof`). */
  serviceExecArgv?: readonly string[];
}

/** The fields every bench's JSON line starts with (DESIGN.md §7). */
export interface BenchResultBase {
  concurrency: number;
  duration_s: number;
  completed: number;
  throughput_per_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}
