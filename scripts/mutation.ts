// `npm run mutation [-- --only=<folder, file or id>] [-- --check]`: plants each reviewed mutant of
// scripts/lib/mutation-catalogue.ts, one at a time, in a throw-away copy of the tree and runs the specs named
// for it; a mutant the specs do not fail survived. Progress on stderr, a table of scores per folder of
// libs/transactions/src and every survivor on stdout, and the last stdout line is one JSON object
// (DESIGN.md §7). Exit status 0 only when every mutant was killed; 1 when one survived, an entry is stale or
// the unmutated specs fail; 2 for a bad command line. `--check` only validates the catalogue against the code.
// docs/mutation.md explains what it covers and how to update the catalogue.
import { resolve } from 'node:path';
import { ensureInfrastructure } from './infra/index';
import { CATALOGUE } from './lib/mutation-catalogue';
import { formatStale, formatSummary, summarize } from './lib/mutation-report';
import {
  killRunningSpecs,
  removeScratchTreesNow,
  MutantResult,
  runSpecs,
  ScratchTree,
  selects,
  validate,
} from './lib/mutation-runner';

const USAGE = `usage: npm run mutation -- [--only=<folder|file|id>]... [--check] [--verbose]

  --only=<x>   only the mutants of a folder or file under libs/transactions/src (e.g. adapters/postgres,
               adapters/postgres/postgres-inbox.ts), or one mutant by id; may be given more than once
  --check      validate every catalogue entry against the code (find text present exactly once, still
               parses, specs exist) and list the stale ones, without running any spec
  --verbose    print the end of jest's output after each mutant
  --help       this text`;

interface Options {
  only: string[];
  check: boolean;
  verbose: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { only: [], check: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (arg === '--check') options.check = true;
    else if (arg === '--verbose') options.verbose = true;
    else if (arg === '--only' && argv[i + 1] !== undefined && !argv[i + 1].startsWith('--'))
      options.only.push(argv[++i]);
    else if (arg.startsWith('--only=') && arg.length > '--only='.length) options.only.push(arg.slice(7));
    else {
      process.stderr.write(`mutation: unexpected argument '${arg}'; try --help\n`);
      process.exit(2);
    }
  }
  return options;
}

const log = (line: string): void => {
  process.stderr.write(`mutation: ${line}\n`);
};

const root = resolve(__dirname, '..', '..');
const options = parseArgs(process.argv.slice(2));
const onlyLabel = options.only.length > 0 ? options.only.join(',') : undefined;
let scratch: ScratchTree | undefined;

/** Specs usually take this long unmutated; a mutant running them more than three times longer timed out. */
const timeoutFor = (baselineMs: number): number => Math.max(60_000, 3 * baselineMs + 30_000);

async function main(): Promise<number> {
  const started = Date.now();
  const selected = CATALOGUE.filter(
    (e) => options.only.length === 0 || options.only.some((o) => selects(o, e)),
  );
  if (selected.length === 0) {
    process.stderr.write(`mutation: no catalogued mutant matches --only=${onlyLabel ?? ''}\n`);
    process.exit(2);
  }
  const stale = await validate(root, CATALOGUE);
  const staleSelected = stale.filter((s) => selected.some((e) => e.id === s.id));

  if (options.check) {
    const lines =
      stale.length === 0 ? [`All ${CATALOGUE.length} catalogue entries match the code.`] : formatStale(stale);
    process.stdout.write(`${lines.join('\n')}\n`);
    process.stdout.write(
      `${JSON.stringify({ scenario: 'mutation-check', entries: CATALOGUE.length, stale })}\n`,
    );
    return stale.length === 0 ? 0 : 1;
  }
  if (staleSelected.length > 0) {
    process.stdout.write(`${formatStale(staleSelected).join('\n')}\n`);
    throw new Error(
      `${staleSelected.length} stale catalogue entries: ${staleSelected.map((s) => s.id).join(', ')}`,
    );
  }
  const others = stale.length - staleSelected.length;
  if (others > 0) log(`${others} stale entries outside --only are skipped (see --check)`);

  if (selected.some((e) => e.specs.some((spec) => spec.endsWith('.int-spec.ts')))) {
    // The integration specs make their own databases; they only need the backing services up.
    await ensureInfrastructure({ log, services: [] });
  }
  scratch = await ScratchTree.create(root);
  log(`${selected.length} mutants; working in ${scratch.root}`);

  // The unmutated specs first: a mutant only counts as killed if the same specs pass without it.
  const specSets = new Map<string, readonly string[]>();
  for (const entry of selected) specSets.set([...entry.specs].sort().join(' '), [...entry.specs].sort());
  const baseline = new Map<string, number>();
  for (const [key, specs] of specSets) {
    log(`baseline: ${key}`);
    let run = await runSpecs(scratch.root, specs, 10 * 60_000);
    if (!run.passed) {
      log(`baseline failed (${run.firstFailure ?? 'see output'}); running it once more`);
      run = await runSpecs(scratch.root, specs, 10 * 60_000);
    }
    if (!run.passed) {
      process.stderr.write(`${run.output}\n`);
      throw new Error(`the unmutated specs fail: ${key}`);
    }
    baseline.set(key, run.durationMs);
  }

  const results: MutantResult[] = [];
  for (const [index, entry] of selected.entries()) {
    const key = [...entry.specs].sort().join(' ');
    const tree = scratch;
    const timeoutMs = timeoutFor(baseline.get(key) ?? 60_000);
    const specs = [...entry.specs].sort();
    // A kill must repeat: under load the integration specs fail now and then on their own, and a spec that
    // catches a mutant only sometimes does not guard against it.
    const [run, again] = await tree.withMutant(entry, async () => {
      const first = await runSpecs(tree.root, specs, timeoutMs);
      return [first, first.passed ? undefined : await runSpecs(tree.root, specs, timeoutMs)] as const;
    });
    const flaky = again?.passed === true;
    const status = run.passed || flaky ? 'survived' : run.timedOut && again?.timedOut ? 'timeout' : 'killed';
    results.push({
      entry,
      status,
      durationMs: run.durationMs + (again?.durationMs ?? 0),
      ...(run.firstFailure && status === 'killed' ? { killedBy: run.firstFailure } : {}),
      ...(flaky ? { flaky } : {}),
    });
    if (options.verbose) process.stderr.write(`${run.output}\n`);
    const by = flaky
      ? ' (failed once, passed when run again: not a kill)'
      : status === 'killed' && run.firstFailure
        ? ` by ${run.firstFailure}`
        : '';
    log(
      `[${index + 1}/${selected.length}] ${status.toUpperCase()} ${entry.id} (${((run.durationMs + (again?.durationMs ?? 0)) / 1000).toFixed(1)} s)${by}`,
    );
  }

  const summary = summarize(results, stale, onlyLabel, Date.now() - started);
  process.stdout.write(`${formatSummary(summary, results)}\n`);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return summary.survived === 0 ? 0 : 1;
}

function interrupted(signal: NodeJS.Signals): void {
  log(`${signal}: stopping; the working tree was never modified`);
  killRunningSpecs();
  removeScratchTreesNow();
  process.exit(130);
}
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);

main()
  .then(
    async (code) => {
      await scratch?.remove();
      process.exit(code);
    },
    async (error: unknown) => {
      await scratch?.remove();
      const text = error instanceof Error ? error.message : String(error);
      log(`error: ${text}`);
      process.stdout.write(
        `${JSON.stringify({ scenario: 'mutation', only: onlyLabel ?? null, error: text })}\n`,
      );
      process.exit(1);
    },
  )
  .catch(() => process.exit(1));
