// The readable side of `npm run faults -- best-effort`: one progress line per trial, the per-trial table,
// the per-fault table and the invariants, and the run's summary (whose JSON is the last stdout line).
import { formatTable } from './bench-report';
import { faultKindTable, findingsAndNotes } from './faults-report';
import {
  BEST_EFFORT_FAULTS,
  BestEffortFaultKind,
  BestEffortFaultSummary,
  BestEffortTrialResult,
  Finding,
  summarizeBestEffort,
} from './faults-best-effort-plan';

export function bestEffortTrialLine(trial: BestEffortTrialResult): string {
  const victim = trial.victim ? ` @${trial.victim}${trial.victimExit ? ` (${trial.victimExit})` : ''}` : '';
  const settle =
    trial.settleMs === undefined
      ? 'not quiet'
      : `quiet ${(trial.settleMs / 1000).toFixed(1)} s after the load`;
  return `#${trial.index} ${trial.fault}${victim}: ${trial.vitalsAcked} vitals, ${trial.alerts} alerts, ${trial.bookings} bookings, ${trial.emails} e-mails, ${trial.duplicatesAbsorbed} repeats absorbed, ${settle}, ${trial.violations} violation(s), ${trial.seconds.toFixed(1)} s (${Object.entries(
    trial.phases,
  )
    .map(([name, ms]) => `${name} ${(ms / 1000).toFixed(1)}`)
    .join(', ')})`;
}

/** Prints the tables (and any findings) on stdout and returns the summary. */
export function reportBestEffort(
  results: readonly BestEffortTrialResult[],
  downMs: number,
  final: { findings: Finding[]; pushesDeadLettered: number },
): BestEffortFaultSummary {
  const summary = summarizeBestEffort(results, downMs, final);
  const out: string[] = [
    '',
    `Fault injection: best-effort (ICU alerts → station over HTTP; confirmations → SMTP sink and a push gateway that never comes back; receivers down ${downMs / 1000} s)`,
    '',
    formatTable(
      [
        'trial',
        'fault',
        'vitals acked',
        'alerts',
        'bookings',
        'e-mails',
        'failed attempts',
        'abandoned',
        'repeats absorbed',
        'violations',
        'lost',
        'duplicated',
        'settle s',
        'seconds',
      ],
      results.map((t) => [
        String(t.index + 1),
        t.fault,
        String(t.vitalsAcked),
        String(t.alerts),
        `${t.bookings}+${t.cancellations}`,
        String(t.emails),
        String(t.failedAttempts),
        String(t.abandonedAttempts),
        String(t.duplicatesAbsorbed),
        String(t.violations),
        String(t.lost),
        String(t.duplicated),
        t.settleMs === undefined ? '-' : (t.settleMs / 1000).toFixed(1),
        t.seconds.toFixed(1),
      ]),
    ),
    '',
    faultKindTable(summary.faults, (fault: BestEffortFaultKind) => BEST_EFFORT_FAULTS[fault].description),
    '',
    formatTable(
      ['invariant', 'result'],
      [
        [
          'every alert and confirmation in its receiver once (after de-duplication)',
          `${summary.alerts} alerts, ${summary.emails} e-mails; ${summary.duplicates_absorbed} repeats absorbed`,
        ],
        ['nothing in a ledger that was not logged', 'checked after every trial'],
        [
          'every Flag transition and confirmed booking logged',
          `${summary.bookings} bookings + ${summary.cancellations} cancellations`,
        ],
        [
          'attempts follow the back-off schedule',
          `${summary.failed_attempts} failed, ${summary.abandoned_attempts} abandoned attempts checked`,
        ],
        [
          'exhausted ones dead-lettered (push gateway never up)',
          `${summary.pushes_dead_lettered} dead letters`,
        ],
        [
          'every vital the broker acknowledged (QoS 1) stored',
          `${summary.vitals_acked} vitals; ${summary.vitals_stored_twice} stored twice (at least once)`,
        ],
        ['violations', String(summary.violations)],
        ['lost', String(summary.lost)],
        ['duplicated', String(summary.duplicated)],
        ['faults not injected', String(summary.not_injected)],
        ['services stopped from outside the run (restarted)', String(summary.external_stops)],
      ],
    ),
  ];
  const notes = findingsAndNotes(results, bestEffortTrialLine);
  if (notes.length > 0 || final.findings.length > 0) out.push('', 'Findings and notes:', ...notes);
  if (final.findings.length > 0) out.push('  after the last trial:');
  for (const f of final.findings.slice(0, 20)) out.push(`    - ${f.kind}: ${f.message}`);
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
  return summary;
}
