// Scores of a mutation run (scripts/mutation.ts), per folder of libs/transactions/src, as a table and as
// the one-line JSON object the run prints last.
import { formatTable } from './bench-report';
import { folderOf, MutantArea, MutantResult, StaleEntry } from './mutation-runner';

export interface FolderScore {
  folder: string;
  mutants: number;
  killed: number;
  /** Killed by a timeout (the specs hung or ran three times their usual time); counted as killed. */
  timed_out: number;
  survived: number;
  /** Killed (timeouts included) over all mutants, in percent; null when the folder had none. */
  score: number | null;
}

export interface MutationSummary {
  scenario: 'mutation';
  only: string | null;
  mutants: number;
  killed: number;
  timed_out: number;
  survived: number;
  score: number | null;
  duration_s: number;
  folders: FolderScore[];
  survivors: { id: string; file: string; area: MutantArea; description: string; flaky: boolean }[];
  stale: StaleEntry[];
}

const percent = (killed: number, total: number): number | null =>
  total === 0 ? null : Math.round((1000 * killed) / total) / 10;

function score(folder: string, results: readonly MutantResult[]): FolderScore {
  const killed = results.filter((r) => r.status !== 'survived').length;
  return {
    folder,
    mutants: results.length,
    killed,
    timed_out: results.filter((r) => r.status === 'timeout').length,
    survived: results.length - killed,
    score: percent(killed, results.length),
  };
}

export function summarize(
  results: readonly MutantResult[],
  stale: readonly StaleEntry[],
  only: string | undefined,
  durationMs: number,
): MutationSummary {
  const folders = [...new Set(results.map((r) => folderOf(r.entry)))].sort();
  const total = score('all', results);
  return {
    scenario: 'mutation',
    only: only ?? null,
    mutants: total.mutants,
    killed: total.killed,
    timed_out: total.timed_out,
    survived: total.survived,
    score: total.score,
    duration_s: Math.round(durationMs / 100) / 10,
    folders: folders.map((f) =>
      score(
        f,
        results.filter((r) => folderOf(r.entry) === f),
      ),
    ),
    survivors: results
      .filter((r) => r.status === 'survived')
      .map(({ entry, flaky }) => ({
        id: entry.id,
        file: entry.file,
        area: entry.area,
        description: entry.description,
        flaky: flaky === true,
      })),
    stale: [...stale],
  };
}

const fmtScore = (value: number | null): string => (value === null ? '-' : `${value.toFixed(1)}%`);

/** The readable report: scores per folder, then every survivor with what it breaks. */
export function formatSummary(summary: MutationSummary, results: readonly MutantResult[]): string {
  const rows = [...summary.folders, score('all', results)].map((f) => [
    f.folder,
    String(f.mutants),
    String(f.killed),
    String(f.timed_out),
    String(f.survived),
    fmtScore(f.score),
  ]);
  const out = [
    '',
    `Mutation run over libs/transactions/src${summary.only ? ` (only ${summary.only})` : ''}: ${summary.mutants} mutants in ${summary.duration_s} s`,
    '',
    formatTable(['folder', 'mutants', 'killed', 'of which timeout', 'survived', 'score'], rows),
    '',
  ];
  if (summary.survivors.length === 0) out.push('No mutant survived.', '');
  else {
    out.push(`Survivors (${summary.survivors.length}):`);
    for (const s of summary.survivors) {
      const note = s.flaky ? ' (the specs failed once, then passed: not a kill)' : '';
      out.push(`  ${s.id} [${s.area}] ${s.file}${note}`, `      ${s.description}`);
    }
    out.push('');
  }
  if (summary.stale.length > 0) out.push(...formatStale(summary.stale), '');
  return out.join('\n');
}

/** The stale entries, one line each with what no longer fits. */
export function formatStale(stale: readonly StaleEntry[]): string[] {
  return [
    `Stale catalogue entries (${stale.length}), update scripts/lib/mutation-catalogue.ts:`,
    ...stale.map((s) => `  ${s.id} (${s.file}): ${s.problem}`),
  ];
}
