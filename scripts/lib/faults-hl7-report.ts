// The readable side of `npm run faults -- hl7`: one progress line per trial, the per-trial and per-fault
// tables and the invariants, and the run's summary (whose JSON is the last stdout line).
import { formatTable } from './bench-report';
import {
  HL7_FAULTS,
  type Hl7FaultKind,
  type Hl7FaultSummary,
  type Hl7TrialResult,
  summarizeHl7,
} from './faults-hl7-plan';
import { faultKindTable, findingsAndNotes } from './faults-report';

const seconds = (ms: number | undefined): string => (ms === undefined ? '-' : (ms / 1000).toFixed(1));

export function hl7TrialLine(trial: Hl7TrialResult): string {
  const settle =
    trial.settleMs === undefined ? 'not settled' : `settled ${seconds(trial.settleMs)} s after the update`;
  return `#${trial.index} ${trial.fault}: http ${trial.http}, ${trial.injected ? 'injected' : 'NOT injected'}, ${trial.resultRetries} result resend(s), ${settle}, ${trial.violations} violation(s), ${trial.seconds.toFixed(1)} s (${Object.entries(
    trial.phases,
  )
    .map(([name, ms]) => `${name} ${seconds(ms)}`)
    .join(', ')})`;
}

/** Prints the tables (and any findings) on stdout and returns the summary. */
export function reportHl7(
  results: readonly Hl7TrialResult[],
  totals: Parameters<typeof summarizeHl7>[1],
): Hl7FaultSummary {
  const summary = summarizeHl7(results, totals);
  const out: string[] = [
    '',
    'Fault injection: hl7 (EMR → LIS → OML^O21 over MLLP → analyzer → ORU^R01 → LIS → EMR; EMR → PACS → Orthanc worklist → modality → STOW-RS → PACS → EMR)',
    '',
    formatTable(
      [
        'trial',
        'fault',
        'http',
        'injected',
        'result resends',
        'settle s',
        'violations',
        'lost',
        'duplicated',
        'seconds',
      ],
      results.map((t) => [
        String(t.index + 1),
        t.fault,
        String(t.http),
        t.injected ? 'yes' : 'no',
        String(t.resultRetries),
        seconds(t.settleMs),
        String(t.violations),
        String(t.lost),
        String(t.duplicated),
        t.seconds.toFixed(1),
      ]),
    ),
    '',
    faultKindTable(summary.faults, (fault: Hl7FaultKind) => HL7_FAULTS[fault].description),
    '',
    formatTable(
      ['invariant', 'result'],
      [
        [
          'each lab order at the analyzer once (one MSH-10), its result acknowledged once',
          `${summary.analyzer_orders} orders, ${summary.analyzer_results} results`,
        ],
        ['each imaging order stored once by the modality', `${summary.studies_stored} studies`],
        [
          'one DiagnosticReport (panel Observations) / ImagingStudy per order in the department and the EMR',
          'checked after every trial',
        ],
        [
          'every order completed in emr, lis and pacs; nothing dead-lettered, pending or prepared',
          'checked after every trial',
        ],
        ['violations (all findings)', String(summary.violations)],
        ['lost', String(summary.lost)],
        ['duplicated', String(summary.duplicated)],
        ['faults not injected', String(summary.not_injected)],
      ],
    ),
  ];
  const notes = findingsAndNotes(results, hl7TrialLine);
  if (notes.length > 0) out.push('', 'Findings and notes:', ...notes);
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
  return summary;
}
