// `npm run faults -- <scenario> [--trials=<n>]`: kills services with SIGKILL at chosen protocol points,
// restarts them, stops and starts the broker, injects duplicate messages, lets recovery run and checks the
// invariants directly in the databases (DESIGN.md §7). Progress on stderr, a table on stdout, and the last
// stdout line is one JSON object. Exit status 0 only when every invariant held in every trial.
//   2pc     EMR ↔ LIS ↔ PACS record update over two-phase commit (scripts/lib/faults-2pc.ts)
//   outbox  pharmacy dispensing → inventory → supply chain → supplier: outbox / inbox over RabbitMQ and
//           purchase orders as two-phase messages (scripts/lib/faults-outbox.ts)
//   best-effort  ICU alerts to the station and appointment confirmations by e-mail and push, under load:
//           receivers down, senders killed mid-retry, the run's own Mosquitto restarted
//           (scripts/lib/faults-best-effort.ts)
//   care-plan  treatment plans in the saga, quota-cached saga and TCC modes under load: care-plans killed at
//           a protocol point of its mode, a participant killed, the quota caches' Redis keys deleted,
//           RabbitMQ restarted (scripts/lib/faults-care-plan.ts)
//   3pc     consult completion over three-phase commit (telemedicine, the EMR, the referral inbox):
//           telemedicine killed at a coordinator point and kept down while the others settle alone, then
//           restarted; the EMR or the inbox killed at a participant point; the inbox cut off by a TCP proxy at
//           the first PreCommit and healed after both time-outs (scripts/lib/faults-3pc.ts)
//   hl7     laboratory and imaging orders to the analyzer (MLLP) and the modality (Orthanc) and their results
//           back into the EMR: the analyzer down, the LIS killed with half a frame on its listener, Orthanc
//           restarted around the study (scripts/lib/faults-hl7.ts)
import { SingleBar } from 'cli-progress';
import { ProtocolPoint, protocolPointsOf } from '@hospital/transactions/core/protocol-points';
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
import {
  FAULT_ORDER,
  FAULTS,
  FaultKind,
  OutboxFaultLab,
  OutboxFaultSummary,
  OutboxTrialResult,
  outboxPassed,
  planOutboxTrials,
  summarizeOutbox,
} from './lib/faults-outbox';
import {
  BEST_EFFORT_FAULT_ORDER,
  BestEffortFaultKind,
  BestEffortFaultLab,
  bestEffortPassed,
  planBestEffortTrials,
} from './lib/faults-best-effort';
import { reportBestEffort, bestEffortTrialLine } from './lib/faults-best-effort-report';
import {
  CARE_PLAN_FAULT_ORDER,
  CarePlanFaultKind,
  CarePlanFaultLab,
  carePlanPassed,
  planCarePlanTrials,
} from './lib/faults-care-plan';
import { carePlanTrialLine, reportCarePlan } from './lib/faults-care-plan-report';
import {
  planThreePhaseTrials,
  THREE_PHASE_FAULT_ORDER,
  threePhaseDeck,
  ThreePhaseFaultKind,
  ThreePhaseFaultLab,
  threePhasePassed,
} from './lib/faults-3pc';
import { reportThreePhase, threePhaseTrialLine } from './lib/faults-3pc-report';
import { HL7_FAULT_ORDER, Hl7FaultKind, Hl7FaultLab, hl7Passed, planHl7Trials } from './lib/faults-hl7';
import { hl7TrialLine, reportHl7 } from './lib/faults-hl7-report';
import { formatTable } from './lib/bench-report';
import { faultKindTable, findingsAndNotes } from './lib/faults-report';

const SCENARIOS = ['2pc', 'outbox', 'best-effort', 'care-plan', '3pc', 'hl7'] as const;
/** Trials when --trials is not given: every point (2pc) or fault kind (outbox, best-effort) several times. */
const DEFAULT_TRIALS: Record<(typeof SCENARIOS)[number], number> = {
  '2pc': 60,
  outbox: 30,
  'best-effort': 20,
  'care-plan': 30,
  '3pc': 40,
  hl7: 21,
};
const scenarioArgument = process.argv.slice(2).find((a) => (SCENARIOS as readonly string[]).includes(a));

const command = parseCommandOrExit(process.argv.slice(2), {
  command: 'faults',
  scenarios: SCENARIOS,
  numbers: {
    trials: {
      default: DEFAULT_TRIALS[(scenarioArgument as (typeof SCENARIOS)[number] | undefined) ?? '2pc'],
      min: 1,
      max: 10_000,
      integer: true,
      description: `trials, round-robin over every protocol point (2pc) or fault (outbox, best-effort, care-plan, 3pc); ${SCENARIOS.map((s) => `${s} ${DEFAULT_TRIALS[s]}`).join(', ')} by default`,
    },
    down: {
      default: 20,
      min: 1,
      max: 600,
      integer: false,
      description: 'best-effort: seconds a receiver (the ICU station, the SMTP sink) stays down',
    },
  },
  choices: {
    point: {
      choices: [...protocolPointsOf('2pc'), ...protocolPointsOf('3pc')],
      description: '2pc, 3pc: only this protocol point (of the scenario)',
    },
    fault: {
      choices: [
        ...new Set([
          ...FAULT_ORDER,
          ...BEST_EFFORT_FAULT_ORDER,
          ...CARE_PLAN_FAULT_ORDER,
          ...THREE_PHASE_FAULT_ORDER,
          ...HL7_FAULT_ORDER,
        ]),
      ],
      description: 'outbox, best-effort, care-plan, 3pc, hl7: only this fault (of the scenario)',
    },
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
      out.push(
        `  ${trialLine(trial)} (gtid ${trial.gtid ?? 'not logged'}, correlation id ${trial.correlationId})`,
      );
      for (const v of trial.violations) out.push(`    - ${v}`);
      if (!trial.victimDied) out.push('    - the victim never reached its fault point');
      if (trial.httpDetail) out.push(`    response: ${trial.httpDetail}`);
    }
    for (const v of globalViolations) out.push(`  - ${v}`);
  }
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main2pc(): Promise<number> {
  const trials = command.numbers.trials;
  const only = command.choices.point as ProtocolPoint | undefined;
  if (only !== undefined && !only.startsWith('2pc.')) {
    process.stderr.write(`faults: --point=${only} is not a 2pc protocol point\n`);
    return 2;
  }
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

function outboxTrialLine(trial: OutboxTrialResult): string {
  const victim = trial.victim ? ` @${trial.victim}${trial.victimExit ? ` (${trial.victimExit})` : ''}` : '';
  const settle =
    trial.settleMs === undefined
      ? 'not quiet'
      : `quiet ${(trial.settleMs / 1000).toFixed(1)} s after the load`;
  return `#${trial.index} ${trial.fault}${victim}: ${trial.dispenses} dispenses, ${trial.purchaseOrders} POs${
    trial.duplicatesInjected > 0 ? `, ${trial.duplicatesInjected} duplicates injected` : ''
  }, ${trial.duplicatesAbsorbed} redeliveries absorbed, ${settle}, ${trial.violations} violation(s), ${trial.seconds.toFixed(1)} s (${Object.entries(
    trial.phases,
  )
    .map(([name, ms]) => `${name} ${(ms / 1000).toFixed(1)}`)
    .join(', ')})`;
}

function reportOutbox(results: readonly OutboxTrialResult[], summary: OutboxFaultSummary): void {
  const out: string[] = [
    '',
    'Fault injection: outbox (pharmacy dispensing → inventory → supply chain → supplier; outbox / inbox over RabbitMQ, purchase orders as two-phase messages)',
    '',
    formatTable(
      [
        'trial',
        'fault',
        'victim',
        'dispenses',
        'POs',
        'dups sent',
        'dups absorbed',
        'violations',
        'lost',
        'duplicated',
        'settle s',
        'seconds',
      ],
      results.map((t) => [
        String(t.index + 1),
        t.fault,
        t.victim ?? '-',
        String(t.dispenses),
        String(t.purchaseOrders),
        String(t.duplicatesInjected),
        String(t.duplicatesAbsorbed),
        String(t.violations),
        String(t.lost),
        String(t.duplicated),
        t.settleMs === undefined ? '-' : (t.settleMs / 1000).toFixed(1),
        t.seconds.toFixed(1),
      ]),
    ),
    '',
    faultKindTable(summary.faults, (fault: FaultKind) => FAULTS[fault].description),
    '',
    formatTable(
      ['invariant', 'result'],
      [
        ['stock = initial − dispensed + delivered, every drug@location', 'checked after every trial'],
        ['every committed dispense applied once in inventory', `${summary.dispenses} dispenses`],
        [
          'every reorder → one purchase order → received once by the supplier',
          `${summary.purchase_orders} purchase orders, ${summary.deliveries} deliveries`,
        ],
        ['violations', String(summary.violations)],
        ['lost (dispenses, reorders, orders, deliveries)', String(summary.lost)],
        ['duplicated (applied or sent twice)', String(summary.duplicated)],
        ['left in doubt (two-phase messages prepared or submitted)', String(summary.left_in_doubt)],
        ['faults not injected', String(summary.not_injected)],
      ],
    ),
  ];
  const notes = findingsAndNotes(results, outboxTrialLine);
  if (notes.length > 0) out.push('', 'Findings and notes:', ...notes);
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
}

/** True when --fault names no fault, or one of `faults`; otherwise says so on stderr. */
function faultOf(faults: readonly string[]): boolean {
  const only = command.choices.fault;
  if (only === undefined || faults.includes(only)) return true;
  process.stderr.write(`faults: --fault=${only} is not a ${command.scenario} fault (${faults.join(', ')})\n`);
  return false;
}

async function mainOutbox(): Promise<number> {
  if (!faultOf(FAULT_ORDER)) return 2;
  const only = command.choices.fault as FaultKind | undefined;
  const plans = planOutboxTrials(command.numbers.trials, only ? [only] : FAULT_ORDER);
  const began = Date.now();
  await ensureInfrastructure({ log });
  const lab = await OutboxFaultLab.open({
    suffix: 'faults',
    namespace: 'faults-outbox',
    portBase: 3270,
    log,
  });
  let summary: OutboxFaultSummary;
  try {
    let violations = 0;
    for (const plan of plans) {
      const result = await lab.runTrial(plan);
      violations += result.violations;
      log(
        `${plan.index + 1}/${plans.length} ${outboxTrialLine(result)}${result.violations > 0 ? ` VIOLATION (${violations} so far)` : ''}`,
      );
    }
    summary = summarizeOutbox(lab.trials, await lab.evaluate());
  } finally {
    await lab.close();
  }
  reportOutbox(lab.trials, summary);
  const ok = outboxPassed(summary);
  process.stdout.write(
    `${JSON.stringify({ ...summary, duration_s: Math.round((Date.now() - began) / 1000), passed: ok })}\n`,
  );
  return ok ? 0 : 1;
}

async function mainBestEffort(): Promise<number> {
  if (!faultOf(BEST_EFFORT_FAULT_ORDER)) return 2;
  const only = command.choices.fault;
  const plans = planBestEffortTrials(
    command.numbers.trials,
    only ? [only as BestEffortFaultKind] : BEST_EFFORT_FAULT_ORDER,
  );
  const downMs = Math.round(command.numbers.down * 1000);
  const began = Date.now();
  await ensureInfrastructure({ log });
  const lab = await BestEffortFaultLab.open({
    suffix: 'faults',
    portBase: 3600,
    mqttPort: 1893,
    downMs,
    log,
  });
  let final: Awaited<ReturnType<BestEffortFaultLab['finish']>>;
  try {
    let violations = 0;
    for (const plan of plans) {
      const result = await lab.runTrial(plan);
      violations += result.violations;
      log(
        `${plan.index + 1}/${plans.length} ${bestEffortTrialLine(result)}${result.violations > 0 ? ` VIOLATION (${violations} so far)` : ''}`,
      );
    }
    log(
      'waiting for every push to the gateway that never came back to be dead-lettered, then checking again',
    );
    final = await lab.finish();
  } finally {
    await lab.close();
  }
  const summary = reportBestEffort(lab.trials, downMs, final);
  const ok = bestEffortPassed(summary);
  process.stdout.write(
    `${JSON.stringify({ ...summary, duration_s: Math.round((Date.now() - began) / 1000), passed: ok })}\n`,
  );
  return ok ? 0 : 1;
}

async function mainCarePlan(): Promise<number> {
  if (!faultOf(CARE_PLAN_FAULT_ORDER)) return 2;
  const only = command.choices.fault;
  const plans = planCarePlanTrials(
    command.numbers.trials,
    only ? [only as CarePlanFaultKind] : CARE_PLAN_FAULT_ORDER,
  );
  const began = Date.now();
  await ensureInfrastructure({ log });
  const lab = await CarePlanFaultLab.open({ suffix: 'faults', basePort: 3480, log });
  let final: Awaited<ReturnType<CarePlanFaultLab['finish']>>;
  try {
    let violations = 0;
    for (const plan of plans) {
      const result = await lab.runTrial(plan);
      violations += result.violations;
      log(
        `${plan.index + 1}/${plans.length} ${carePlanTrialLine(result)}${result.violations > 0 ? ` VIOLATION (${violations} so far)` : ''}`,
      );
    }
    log('checking every plan, participant and quota cache of the run once more');
    final = await lab.finish();
  } finally {
    await lab.close();
  }
  const summary = reportCarePlan(lab.trials, final);
  const ok = carePlanPassed(summary);
  process.stdout.write(
    `${JSON.stringify({ ...summary, duration_s: Math.round((Date.now() - began) / 1000), passed: ok })}\n`,
  );
  return ok ? 0 : 1;
}

/**
 * Runs `plans` one after the other with `runTrial`: a progress bar on a terminal, one line per trial when
 * stderr is a file or a pipe.
 */
async function runTrials<P extends { index: number }, R extends { violations: number }>(
  scenario: string,
  plans: readonly P[],
  runTrial: (plan: P) => Promise<R>,
  line: (result: R) => string,
): Promise<void> {
  const tty = process.stderr.isTTY === true;
  const bar = new SingleBar({
    stream: process.stderr,
    format: `faults ${scenario} [{bar}] {value}/{total} trials | {violations} violation(s) | {last}`,
    noTTYOutput: true,
    notTTYSchedule: 5_000,
    hideCursor: false,
  });
  let violations = 0;
  try {
    if (tty) bar.start(plans.length, 0, { violations, last: '' });
    for (const plan of plans) {
      const result = await runTrial(plan);
      violations += result.violations;
      if (tty) bar.increment({ violations, last: line(result) });
      else
        log(
          `${plan.index + 1}/${plans.length} ${line(result)}${result.violations > 0 ? ` VIOLATION (${violations} so far)` : ''}`,
        );
    }
  } finally {
    if (tty) bar.stop();
  }
}

async function mainThreePhase(): Promise<number> {
  if (!faultOf(THREE_PHASE_FAULT_ORDER)) return 2;
  const fault = command.choices.fault as ThreePhaseFaultKind | undefined;
  const point = command.choices.point;
  if (point !== undefined && !threePhaseDeck().some((d) => d.point === point)) {
    process.stderr.write(`faults: --point=${point} is not a 3pc protocol point\n`);
    return 2;
  }
  const plans = planThreePhaseTrials(
    command.numbers.trials,
    fault ? [fault] : THREE_PHASE_FAULT_ORDER,
    point,
  );
  const began = Date.now();
  await ensureInfrastructure({ log });
  const lab = await ThreePhaseFaultLab.open({ suffix: 'faults3pc', basePort: 3950, log });
  let final: Awaited<ReturnType<ThreePhaseFaultLab['finish']>>;
  try {
    await runTrials('3pc', plans, (plan) => lab.runTrial(plan), threePhaseTrialLine);
    log('checking every consult of the run once more, and that nothing is left prepared');
    final = await lab.finish();
  } finally {
    await lab.close();
  }
  const summary = reportThreePhase(lab.trials, final.findings, final.leftInDoubt);
  const ok = threePhasePassed(summary);
  process.stdout.write(
    `${JSON.stringify({ ...summary, duration_s: Math.round((Date.now() - began) / 1000), passed: ok })}\n`,
  );
  return ok ? 0 : 1;
}

async function mainHl7(): Promise<number> {
  if (!faultOf(HL7_FAULT_ORDER)) return 2;
  const fault = command.choices.fault as Hl7FaultKind | undefined;
  const plans = planHl7Trials(command.numbers.trials, fault ? [fault] : HL7_FAULT_ORDER);
  const began = Date.now();
  await ensureInfrastructure({ log });
  const lab = await Hl7FaultLab.open({
    suffix: 'faultshl7',
    namespace: 'faults-hl7',
    ports: { portBase: 4800, orthancHttp: 4810, orthancDicom: 4811, analyzer: 4812, listener: 4813 },
    log,
  });
  try {
    await runTrials('hl7', plans, (plan) => lab.runTrial(plan), hl7TrialLine);
  } finally {
    await lab.close();
  }
  const summary = reportHl7(lab.trials, lab.totals);
  const ok = hl7Passed(summary);
  process.stdout.write(
    `${JSON.stringify({ ...summary, duration_s: Math.round((Date.now() - began) / 1000), passed: ok })}\n`,
  );
  return ok ? 0 : 1;
}

function main(): Promise<number> {
  switch (command.scenario) {
    case 'hl7':
      return mainHl7();
    case '3pc':
      return mainThreePhase();
    case 'care-plan':
      return mainCarePlan();
    case 'outbox':
      return mainOutbox();
    case 'best-effort':
      return mainBestEffort();
    default:
      return main2pc();
  }
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
