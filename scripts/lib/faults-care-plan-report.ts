// The readable side of `npm run faults -- care-plan`: one progress line per trial, the per-trial table,
// the per-mode and per-fault tables and the invariants, and the run's summary (whose JSON is the last
// stdout line).
import { formatTable } from './bench-report';
import {
  CARE_PLAN_FAULTS,
  type CarePlanFaultKind,
  type CarePlanFaultSummary,
  type CarePlanTrialResult,
  type Finding,
  summarizeCarePlan,
} from './faults-care-plan-plan';
import { faultKindTable, findingsAndNotes } from './faults-report';

/** What the trial injected, in a few words: the point or the victim. */
function injectedAs(trial: CarePlanTrialResult): string {
  return trial.point ?? trial.victim ?? '-';
}

export function carePlanTrialLine(trial: CarePlanTrialResult): string {
  const victim = trial.victimExit ? ` (${trial.victimExit})` : '';
  const settle =
    trial.settleMs === undefined
      ? 'not settled'
      : `settled ${(trial.settleMs / 1000).toFixed(1)} s after the load`;
  return `#${trial.index} ${trial.mode} ${trial.fault} @${injectedAs(trial)}${victim}: ${trial.plans} plans (answered ${trial.answeredActive} active, ${trial.answeredRevoked} revoked, ${trial.answeredUnavailable} 503, ${trial.unanswered} not at all), ended ${trial.active} active + ${trial.revoked} revoked, ${trial.recovered} finished by recovery, ${settle}, ${trial.violations} violation(s), ${trial.seconds.toFixed(1)} s (${Object.entries(
    trial.phases,
  )
    .map(([name, ms]) => `${name} ${(ms / 1000).toFixed(1)}`)
    .join(', ')})`;
}

/** Prints the tables (and any findings) on stdout and returns the summary. */
export function reportCarePlan(
  results: readonly CarePlanTrialResult[],
  final: readonly Finding[],
): CarePlanFaultSummary {
  const summary = summarizeCarePlan(results, final);
  const out: string[] = [
    '',
    'Fault injection: care-plan (treatment plans over appointments, pacs and the pharmacy inventory; saga, quota-cached saga, TCC)',
    '',
    formatTable(
      [
        'trial',
        'mode',
        'fault',
        'at',
        'plans',
        '201',
        '409',
        '503',
        'no answer',
        'active',
        'revoked',
        'recovered',
        'events',
        'violations',
        'lost',
        'duplicated',
        'settle s',
        'seconds',
      ],
      results.map((t) => [
        String(t.index + 1),
        t.mode,
        t.fault,
        injectedAs(t),
        String(t.plans),
        String(t.answeredActive),
        String(t.answeredRevoked),
        String(t.answeredUnavailable),
        String(t.unanswered),
        String(t.active),
        String(t.revoked),
        String(t.recovered),
        String(t.completionEvents),
        String(t.violations),
        String(t.lost),
        String(t.duplicated),
        t.settleMs === undefined ? '-' : (t.settleMs / 1000).toFixed(1),
        t.seconds.toFixed(1),
      ]),
    ),
    '',
    faultKindTable(summary.faults, (fault: CarePlanFaultKind) => CARE_PLAN_FAULTS[fault].description),
    '',
    formatTable(
      ['mode', 'trials', 'violations', 'lost', 'duplicated', 'not injected', 'longest trial s'],
      Object.entries(summary.modes).map(([mode, m]) => [
        mode,
        String(m.trials),
        String(m.violations),
        String(m.lost),
        String(m.duplicated),
        String(m.not_injected),
        String(m.seconds_max),
      ]),
    ),
    '',
    formatTable(
      ['invariant', 'result'],
      [
        [
          'every plan active with each reservation applied once, or revoked with none applied or held',
          `${summary.active} active, ${summary.revoked} revoked of ${summary.plans} plans sent`,
        ],
        [
          'no plan in draft, every transaction finished (its state the plan status), FHIR CarePlan alike',
          `${summary.recovered} plans finished by recovery after their request got no final answer`,
        ],
        ['capacity accounting at every participant', 'checked after every trial'],
        [
          'quota: lent = Σ outstanding of live and lost epochs; each live cache holds its epoch',
          `${summary.completion_events} completion events, ${summary.keys_deleted} cache keys deleted`,
        ],
        ['violations', String(summary.violations)],
        ['lost', String(summary.lost)],
        ['duplicated', String(summary.duplicated)],
        ['faults not injected', String(summary.not_injected)],
      ],
    ),
  ];
  const notes = findingsAndNotes(results, carePlanTrialLine);
  if (notes.length > 0 || final.length > 0) out.push('', 'Findings and notes:', ...notes);
  if (final.length > 0) out.push('  after the last trial:');
  for (const f of final.slice(0, 20)) out.push(`    - ${f.kind}: ${f.message}`);
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
  return summary;
}
