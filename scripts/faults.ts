// `npm run faults -- <scenario> [--trials=<n>]`: kills services with SIGKILL at chosen protocol points,
// restarts them, lets recovery run and checks the invariants directly in the databases (DESIGN.md §7).
// Progress on stderr, a table on stdout, and the last stdout line is one JSON object. Exit status 0 only
// when every invariant held in every trial.
import { SingleBar } from 'cli-progress';
import { ALL_PROTOCOL_POINTS, ProtocolPoint } from '@hospital/transactions/core/protocol-points';
import { ensureInfrastructure } from './infra/index';
import { parseCommandOrExit } from './lib/cli-args';
import {
  FaultSummary,
  passed,
  planTrials,
  summarize,
  TRIAL_POINT_ORDER,
  TrialResult,
  TwoPhaseFaultLab,
} from './lib/faults-2pc';
import { formatTable } from './lib/bench-report';

const command = parseCommandOrExit(process.argv.slice(2), {
  command: 'faults',
  scenarios: ['2pc'],
  numbers: {
    trials: {
      default: 60,
      min: 1,
      max: 10_000,
      integer: true,
      description: 'trials, spread round-robin over every protocol point',
    },
  },
  choices: {
    point: { choices: ALL_PROTOCOL_POINTS, description: 'only this protocol point' },
  },
});

const log = (line: string): void => {
  process.stderr.write(`faults: ${line}\n`);
};

function trialLine(trial: TrialResult): string {
  const outcome = trial.decision ?? 'unresolved';
  return `#${trial.index} ${trial.point} @${trial.victim}: http ${trial.http}, ${outcome}, ${
    trial.victimDied ? trial.victimExit : 'victim did not die'
  }${trial.resolveMs === undefined ? '' : `, resolved ${trial.resolveMs} ms after the kill`}`;
}

function report(
  results: readonly TrialResult[],
  globalViolations: readonly string[],
  summary: FaultSummary,
): void {
  const rows = Object.entries(summary.points).map(([point, p]) => [
    point,
    String(p.trials),
    String(p.committed),
    String(p.aborted),
    String(p.not_injected),
    p.resolve_ms_max === null ? '-' : String(p.resolve_ms_max),
    String(p.violations),
  ]);
  const out: string[] = [
    '',
    `Fault injection: ${summary.scenario} (SIGKILL at a protocol point, restart, recovery)`,
    '',
    formatTable(
      [
        'protocol point @ victim',
        'trials',
        'committed',
        'aborted',
        'not injected',
        'kill → resolved ms (max)',
        'violations',
      ],
      rows,
    ),
    '',
    formatTable(
      ['invariant', 'result'],
      [
        [
          'all-or-nothing in emr, lis and pacs',
          summary.violations === 0 ? 'held' : `${summary.violations} violation(s)`,
        ],
        ['lost (client got 200, data missing)', String(summary.lost)],
        ['duplicated patients or orders', String(summary.duplicated)],
        ['left in doubt (prepared or undecided)', String(summary.left_in_doubt)],
        ['faults not injected', String(summary.not_injected)],
      ],
    ),
  ];
  const failing = results.filter((t) => t.violations.length > 0 || !t.victimDied);
  if (failing.length > 0 || globalViolations.length > 0) {
    out.push('', 'Failures:');
    for (const trial of failing) {
      out.push(`  ${trialLine(trial)} (gtid ${trial.gtid})`);
      for (const v of trial.violations) out.push(`    - ${v}`);
      if (!trial.victimDied) out.push('    - the victim never reached its fault point');
      if (trial.httpDetail) out.push(`    response: ${trial.httpDetail}`);
    }
    for (const v of globalViolations) out.push(`  - ${v}`);
  }
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main(): Promise<number> {
  const trials = command.numbers.trials;
  const only = command.choices.point as ProtocolPoint | undefined;
  const plans = planTrials(trials, only ? [only] : TRIAL_POINT_ORDER);
  const began = Date.now();

  await ensureInfrastructure({ log });
  const lab = await TwoPhaseFaultLab.open({ suffix: 'faults', portBase: 3200, log });
  // A bar on a terminal; one line per trial when stderr is a file or a pipe.
  const tty = process.stderr.isTTY === true;
  const bar = new SingleBar({
    stream: process.stderr,
    format: 'faults 2pc [{bar}] {value}/{total} trials | {violations} violation(s) | {last}',
    noTTYOutput: true,
    notTTYSchedule: 5_000,
    hideCursor: false,
  });
  let violations = 0;
  let globalViolations: string[] = [];
  try {
    if (tty) bar.start(plans.length, 0, { violations, last: '' });
    for (const plan of plans) {
      const result = await lab.runTrial(plan);
      violations += result.violations.length;
      if (tty) bar.increment({ violations, last: trialLine(result) });
      else
        log(
          `${plan.index + 1}/${plans.length} ${trialLine(result)}${result.violations.length > 0 ? ' VIOLATION' : ''}`,
        );
    }
    if (tty) bar.stop();
    log('waiting for the coordinator to mark every transaction final, then checking everything again');
    globalViolations = await lab.settle();
  } finally {
    if (tty) bar.stop();
    await lab.close();
  }

  const results = lab.trials;
  const summary = summarize(results, globalViolations);
  report(results, globalViolations, summary);
  const ok = passed(summary);
  process.stdout.write(
    `${JSON.stringify({ ...summary, duration_s: Math.round((Date.now() - began) / 1000), passed: ok })}\n`,
  );
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const text = error instanceof Error ? error.message : String(error);
    process.stderr.write(`faults: error: ${text}\n`);
    process.stdout.write(`${JSON.stringify({ scenario: command.scenario, error: text.split('\n')[0] })}\n`);
    process.exit(1);
  },
);
