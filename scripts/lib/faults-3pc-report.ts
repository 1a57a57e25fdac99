// The readable side of `npm run faults -- 3pc`: one progress line per trial, the per-trial table, the
// per-fault and per-point tables and the invariants, and the run's summary (whose JSON is the last stdout
// line).
import { formatTable } from './bench-report';
import {
  type Finding,
  injectedAs,
  THREE_PHASE_FAULTS,
  type ThreePhaseFaultKind,
  type ThreePhaseFaultSummary,
  type ThreePhaseTrialResult,
  summarizeThreePhase,
} from './faults-3pc-plan';
import { faultKindTable, findingsAndNotes } from './faults-report';

const seconds = (ms: number | undefined): string => (ms === undefined ? '-' : (ms / 1000).toFixed(1));

export function threePhaseTrialLine(trial: ThreePhaseTrialResult): string {
  const victim = trial.victimExit ? ` (${trial.victimExit})` : '';
  const alone =
    trial.aloneMs === undefined ? '' : `, EMR + inbox settled alone in ${seconds(trial.aloneMs)} s`;
  const settle =
    trial.settleMs === undefined
      ? 'not settled'
      : `settled ${seconds(trial.settleMs)} s after the fault ended`;
  return `#${trial.index} ${trial.fault} @${injectedAs(trial)}${victim}: ${trial.consults.length} consults (answered ${trial.answered200} 200, ${trial.answered409} 409, ${trial.answered503} 503, ${trial.unanswered} not at all), ended ${trial.committed} committed + ${trial.aborted} aborted${alone}, ${settle}, ${trial.violations} violation(s), ${trial.seconds.toFixed(1)} s (${Object.entries(
    trial.phases,
  )
    .map(([name, ms]) => `${name} ${seconds(ms)}`)
    .join(', ')})`;
}

/** Prints the tables (and any findings) on stdout and returns the summary. */
export function reportThreePhase(
  results: readonly ThreePhaseTrialResult[],
  final: readonly Finding[],
  leftInDoubt: number,
): ThreePhaseFaultSummary {
  const summary = summarizeThreePhase(results, final, leftInDoubt);
  const out: string[] = [
    '',
    'Fault injection: 3pc (consult completion: telemedicine coordinating, the EMR chart and the referral inbox; three-phase commit, peer termination)',
    '',
    formatTable(
      [
        'trial',
        'fault',
        'at',
        'consults',
        '200',
        '409',
        '503',
        'no answer',
        'committed',
        'aborted',
        'alone s',
        'settle s',
        'violations',
        'lost',
        'duplicated',
        'seconds',
      ],
      results.map((t) => [
        String(t.index + 1),
        t.fault,
        injectedAs(t),
        String(t.consults.length),
        String(t.answered200),
        String(t.answered409),
        String(t.answered503),
        String(t.unanswered),
        String(t.committed),
        String(t.aborted),
        seconds(t.aloneMs),
        seconds(t.settleMs),
        String(t.violations),
        String(t.lost),
        String(t.duplicated),
        t.seconds.toFixed(1),
      ]),
    ),
    '',
    faultKindTable(summary.faults, (fault: ThreePhaseFaultKind) => THREE_PHASE_FAULTS[fault].description),
    '',
    formatTable(
      ['killed at, or cut', 'trials', 'committed', 'aborted', 'violations'],
      Object.entries(summary.points).map(([point, p]) => [
        point,
        String(p.trials),
        String(p.committed),
        String(p.aborted),
        String(p.violations),
      ]),
    ),
    '',
    formatTable(
      ['invariant', 'result'],
      [
        [
          'every consult completed in the EMR, the inbox and telemedicine, or in none',
          `${summary.committed} committed, ${summary.aborted} aborted of ${summary.consults} consults`,
        ],
        [
          'coordinator down: the EMR and the inbox end their branches alike without it',
          summary.alone_ms_max === null
            ? '-'
            : `within ${seconds(summary.alone_ms_max)} s of the kill at most`,
        ],
        ['answers: 200 → applied everywhere, 409 → nowhere; /api/transactions agrees', 'checked per consult'],
        ['violations', String(summary.violations)],
        ['lost (answered 200, a part missing)', String(summary.lost)],
        ['duplicated (a part applied twice)', String(summary.duplicated)],
        ['left in doubt (3PC branches prepared at the end)', String(summary.left_in_doubt)],
        ['faults not injected', String(summary.not_injected)],
      ],
    ),
  ];
  const notes = findingsAndNotes(results, threePhaseTrialLine);
  if (notes.length > 0 || final.length > 0) out.push('', 'Findings and notes:', ...notes);
  if (final.length > 0) out.push('  after the last trial:');
  for (const f of final.slice(0, 20)) out.push(`    - ${f.kind}: ${f.message}`);
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
  return summary;
}
