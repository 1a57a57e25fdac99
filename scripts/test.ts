// `npm test`: prepares the infrastructure, then runs jest — unit and integration specs first (two workers),
// then, only if they passed, the fault specs one at a time (they stop and kill real processes).
// Extra arguments go to jest: `npm test -- two-phase`, `npm test -- --selectProjects unit`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { endpointsFromEnv, ensureInfrastructure, InfrastructureError } from './infra/index';
import { ensureChromium } from './infra/debian-packages';
import { deleteLeftoverQueues } from './infra/rabbitmq-leftovers';
import { repositoryRoot } from './services';

type Project = 'unit' | 'integration' | 'faults';
const projects: readonly Project[] = ['unit', 'integration', 'faults'];

const log = (line: string): void => {
  process.stderr.write(`test: ${line}\n`);
};

/** Splits `--selectProjects a b` / `--selectProjects=a,b` out of the forwarded arguments. */
function parseArguments(argv: readonly string[]): { selected: Project[]; rest: string[] } {
  const rest: string[] = [];
  let selected: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('--selectProjects=')) {
      selected = [...(selected ?? []), ...arg.slice('--selectProjects='.length).split(',')];
    } else if (arg === '--selectProjects') {
      selected = selected ?? [];
      while (i + 1 < argv.length && !argv[i + 1].startsWith('-')) selected.push(argv[++i]);
    } else {
      rest.push(arg);
    }
  }
  const unknown = (selected ?? []).filter((p) => !projects.includes(p as Project));
  if (unknown.length > 0)
    throw new Error(`unknown jest project(s): ${unknown.join(', ')} (known: ${projects.join(', ')})`);
  return { selected: selected ? projects.filter((p) => selected.includes(p)) : [...projects], rest };
}

/** Test counts of every jest run, for the one closing line `N passed, N failed`. */
const totals = { passed: 0, failed: 0, skipped: 0 };
const reports = mkdtempSync(join(tmpdir(), 'hospital-test-'));
let runs = 0;

function addCounts(file: string): void {
  try {
    const report = JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
    totals.passed += report.numPassedTests ?? 0;
    totals.failed += report.numFailedTests ?? 0;
    totals.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  } catch {
    // jest wrote no report (it could not start): its exit code already says so
  }
}

function runJest(args: string[]): Promise<number> {
  const jest = require.resolve('jest/bin/jest', { paths: [repositoryRoot()] });
  const report = join(reports, `run-${(runs += 1)}.json`);
  args = [...args, '--json', `--outputFile=${report}`];
  log(`jest ${args.join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [jest, ...args], { stdio: 'inherit', cwd: repositoryRoot() });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    child.once('error', (error) => {
      log(`could not start jest: ${error.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      addCounts(report);
      resolve(code ?? (signal ? 128 + signalNumber(signal) : 1));
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 1;
}

async function main(): Promise<number> {
  const { selected, rest } = parseArguments(process.argv.slice(2));
  const ci = process.env.CI === 'true' || process.env.CI === '1' ? ['--ci'] : [];

  await ensureInfrastructure({ log });
  await deleteLeftoverQueues(endpointsFromEnv(), log);
  // The console's browser tests drive Debian's Chromium; installed here, not inside a spec's time-out.
  if (selected.includes('integration')) await ensureChromium(log);

  const results: string[] = [];
  const first = selected.filter((p) => p !== 'faults');
  if (first.length > 0) {
    // No --passWithNoTests here: a run that finds no unit or integration specs is a broken run.
    const code = await runJest(['--selectProjects', ...first, '--maxWorkers=2', ...ci, ...rest]);
    results.push(`${first.join(' + ')}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`}`);
    if (code !== 0) {
      if (selected.includes('faults')) results.push('faults: skipped (the specs above failed)');
      log(results.join('; '));
      return code;
    }
  }
  if (selected.includes('faults')) {
    const code = await runJest([
      '--selectProjects',
      'faults',
      '--runInBand',
      '--passWithNoTests',
      ...ci,
      ...rest,
    ]);
    results.push(`faults: ${code === 0 ? 'passed' : `FAILED (exit ${code})`}`);
    log(results.join('; '));
    return code;
  }
  log(results.join('; '));
  return 0;
}

main().then(
  (code) => {
    const skipped = totals.skipped > 0 ? `, ${totals.skipped} skipped` : '';
    process.stdout.write(`${totals.passed} passed, ${totals.failed} failed${skipped}\n`);
    process.exit(code);
  },
  (error: unknown) => {
    const text = error instanceof Error ? error.message : String(error);
    const prefix = error instanceof InfrastructureError ? 'infrastructure is not ready: ' : '';
    process.stderr.write(`test: error: ${prefix}${text.replace(/:\n\s*/g, ': ').replace(/\n\s*/g, '; ')}\n`);
    process.exit(1);
  },
);
