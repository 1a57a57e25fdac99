// What a fault run of the consult completion over three-phase commit injects and how its trials are summed
// up: the three fault kinds (the coordinator killed at one of its points and left down while the others
// settle alone, a participant killed at one of its points and restarted, a partition cutting the inbox
// off at the first PreCommit), the deck the trials are dealt from, the time-outs the services run with,
// what a trial reports and the run's summary. The trials run in faults-3pc.ts.
import type { ProtocolPoint } from '@hospital/transactions/core/protocol-points';
import type { Log } from './bench-cluster';
import { type FaultKindSummary, type Finding, summarizeFaultKinds } from './faults-outbox-plan';
import { spreadDeck, type TrialRecord } from './faults-report';
import type { ConsultServiceName } from './telemedicine-cluster';

export type { FaultKindSummary, Finding } from './faults-outbox-plan';

/** The faults a trial injects, one per trial. */
export type ThreePhaseFaultKind = 'coordinator-kill' | 'participant-kill' | 'partition';

export const THREE_PHASE_FAULT_ORDER: readonly ThreePhaseFaultKind[] = [
  'coordinator-kill',
  'participant-kill',
  'partition',
];

export const THREE_PHASE_FAULTS: Readonly<Record<ThreePhaseFaultKind, { description: string }>> = {
  'coordinator-kill': {
    description:
      'telemedicine (coordinator and participant) SIGKILLs itself at FAULT_KILL_AT; the EMR and the inbox settle while it is down; restarted',
  },
  'participant-kill': {
    description: 'the EMR or the referral inbox SIGKILLs itself at FAULT_KILL_AT, restarted',
  },
  partition: {
    description: "the inbox's proxy cut at the first PreCommit, healed after both time-outs",
  },
};

/** The coordinator's points a coordinator-kill trial kills telemedicine at. */
export const COORDINATOR_POINTS: readonly ProtocolPoint[] = [
  '3pc.coordinator.after-can-commit',
  '3pc.coordinator.mid-pre-commit',
  '3pc.coordinator.after-pre-commit',
  '3pc.coordinator.mid-do-commit',
];

/** The participants' points a participant-kill trial kills the EMR or the inbox at. */
export const PARTICIPANT_POINTS: readonly ProtocolPoint[] = [
  '3pc.participant.after-can-commit',
  '3pc.participant.after-pre-commit',
  '3pc.participant.before-do-commit',
];

/** The participants a participant-kill trial kills: telemedicine's own branch dies with the coordinator. */
export type ThreePhaseVictim = Extract<ConsultServiceName, 'emr' | 'referral-inbox'>;
export const THREE_PHASE_VICTIMS: readonly ThreePhaseVictim[] = ['emr', 'referral-inbox'];

export interface ThreePhaseTrialPlan {
  index: number;
  fault: ThreePhaseFaultKind;
  /** Where the victim kills itself (coordinator-kill, participant-kill). */
  point?: ProtocolPoint;
  /** participant-kill: the process killed. */
  victim?: ThreePhaseVictim;
}

type Deal = Omit<ThreePhaseTrialPlan, 'index'>;

/**
 * The deck of 20 a default run deals: every coordinator point twice (8), every participant point at
 * each of the EMR and the inbox (6), and the partition 6 times, each kind spread evenly over the deck.
 */
export function threePhaseDeck(): Deal[] {
  const kinds: Deal[][] = [
    [...COORDINATOR_POINTS, ...COORDINATOR_POINTS].map((point): Deal => ({
      fault: 'coordinator-kill',
      point,
    })),
    THREE_PHASE_VICTIMS.flatMap((victim, v) =>
      PARTICIPANT_POINTS.map((_, p): Deal => ({
        fault: 'participant-kill',
        victim,
        // The second victim takes the points in another order, so neighbours differ in both.
        point: PARTICIPANT_POINTS[(p + v) % PARTICIPANT_POINTS.length],
      })),
    ),
    Array.from({ length: 6 }, (): Deal => ({ fault: 'partition' })),
  ];
  return spreadDeck(kinds);
}

/** `count` trials dealt round the deck, only of `faults` (all by default), only at `point` when given. */
export function planThreePhaseTrials(
  count: number,
  faults: readonly ThreePhaseFaultKind[] = THREE_PHASE_FAULT_ORDER,
  point?: string,
): ThreePhaseTrialPlan[] {
  const deck = threePhaseDeck().filter(
    (d) => faults.includes(d.fault) && (point === undefined || d.point === point),
  );
  if (deck.length === 0)
    throw new Error(`no 3pc trial is dealt of ${faults.join(', ')} at ${point ?? 'any point'}`);
  return Array.from({ length: count }, (_, index) => ({ index, ...deck[index % deck.length] }));
}

/**
 * Short time-outs, so a trial settles in seconds; in the defaults' order (pre-committed branches time out
 * before uncertain ones).
 */
export const THREE_PHASE_FAULT_TIMEOUTS = {
  TX_VOTE_TIMEOUT_MS: 1_000,
  TX_3PC_UNCERTAIN_TIMEOUT_MS: 2_500,
  TX_3PC_PRECOMMIT_TIMEOUT_MS: 1_500,
  TX_3PC_SWEEP_MS: 200,
  TX_RECOVERY_INTERVAL_MS: 500,
} as const;

/** Every service's environment: the time-outs above, peer termination. */
export const THREE_PHASE_FAULT_ENV: Record<string, string> = {
  ...Object.fromEntries(Object.entries(THREE_PHASE_FAULT_TIMEOUTS).map(([k, v]) => [k, String(v)])),
  TX_3PC_TERMINATION: 'peers',
};

/**
 * How long the EMR and the inbox get to settle alone once the coordinator is dead: four times both
 * participant time-outs.
 */
export const ALONE_SETTLE_MS =
  4 *
  (THREE_PHASE_FAULT_TIMEOUTS.TX_3PC_UNCERTAIN_TIMEOUT_MS +
    THREE_PHASE_FAULT_TIMEOUTS.TX_3PC_PRECOMMIT_TIMEOUT_MS);

/** How long a partition lasts after the cut: past both participant time-outs and a few sweeps. */
export const PARTITION_MS =
  THREE_PHASE_FAULT_TIMEOUTS.TX_3PC_UNCERTAIN_TIMEOUT_MS +
  THREE_PHASE_FAULT_TIMEOUTS.TX_3PC_PRECOMMIT_TIMEOUT_MS +
  1_000;

export interface ThreePhaseFaultLabOptions {
  /** Services from here (telemedicine, the EMR, the inbox), their proxies from `basePort + 10`. */
  basePort: number;
  /** Database suffix (`hospital_<service>_<suffix>`). */
  suffix: string;
  log?: Log;
  /** Consults completed concurrently around the fault in each trial. */
  consultsPerTrial?: number;
  /** How long an armed victim may take to reach its point (ms). */
  victimTimeoutMs?: number;
  /** Bound on settling after a trial (ms). */
  settleTimeoutMs?: number;
}

/** One consult of a trial: how its completion was answered, its gtid, and how it ended. */
export interface ConsultTrace {
  serviceRequestId: string;
  correlationId: string;
  /** The HTTP status of `$complete`, undefined when no answer came (the coordinator died). */
  status?: number;
  /** From `x-gtid` of the answer, else from telemedicine's `tx_global` by correlation id. */
  gtid?: string;
  /** How it ended once settled: every part applied, none, or a split (a violation). */
  outcome?: 'committed' | 'aborted' | 'split';
}

export interface ThreePhaseTrialResult extends ThreePhaseTrialPlan, TrialRecord {
  /** True when the fault happened: the victim died of SIGKILL, or the partition started. */
  injected: boolean;
  victimExit?: string;
  consults: ConsultTrace[];
  answered200: number;
  answered409: number;
  answered503: number;
  unanswered: number;
  committed: number;
  aborted: number;
  /** coordinator-kill: ms from the kill until the EMR and the inbox held nothing prepared. */
  aloneMs?: number;
  /** ms from the restart or heal until everything settled. */
  settleMs?: number;
}

export interface ThreePhaseFaultSummary {
  scenario: '3pc';
  trials: number;
  violations: number;
  lost: number;
  duplicated: number;
  left_in_doubt: number;
  not_injected: number;
  consults: number;
  committed: number;
  aborted: number;
  answered_200: number;
  answered_409: number;
  answered_503: number;
  unanswered: number;
  /** coordinator-kill: the longest the EMR and the inbox took to settle alone (ms). */
  alone_ms_max: number | null;
  faults: Partial<Record<ThreePhaseFaultKind, FaultKindSummary>>;
  /** The coordinator's point, `<victim>@<point>`, or the cut → trials, consults by outcome, violations. */
  points: Record<string, { trials: number; committed: number; aborted: number; violations: number }>;
}

/** What the trial injected, in a few words: the point, the victim and its point, or the cut. */
export function injectedAs(trial: ThreePhaseTrialPlan): string {
  if (trial.fault === 'partition') return 'referral-inbox cut at the first PreCommit';
  return trial.victim ? `${trial.victim}@${trial.point ?? '-'}` : (trial.point ?? '-');
}

export function summarizeThreePhase(
  results: readonly ThreePhaseTrialResult[],
  final: readonly Finding[],
  leftInDoubt: number,
): ThreePhaseFaultSummary {
  const sum = (pick: (t: ThreePhaseTrialResult) => number): number =>
    results.reduce((n, t) => n + pick(t), 0);
  const count = (kind: Finding['kind']): number => final.filter((f) => f.kind === kind).length;
  const points: ThreePhaseFaultSummary['points'] = {};
  for (const t of results) {
    const p = (points[injectedAs(t)] ??= {
      trials: 0,
      committed: 0,
      aborted: 0,
      violations: 0,
    });
    p.trials += 1;
    p.committed += t.committed;
    p.aborted += t.aborted;
    p.violations += t.violations;
  }
  const alone = results.flatMap((t) => (t.aloneMs === undefined ? [] : [t.aloneMs]));
  return {
    scenario: '3pc',
    trials: results.length,
    violations: sum((t) => t.violations) + final.length,
    lost: sum((t) => t.lost) + count('lost'),
    duplicated: sum((t) => t.duplicated) + count('duplicated'),
    left_in_doubt: leftInDoubt,
    not_injected: results.filter((t) => !t.injected).length,
    consults: sum((t) => t.consults.length),
    committed: sum((t) => t.committed),
    aborted: sum((t) => t.aborted),
    answered_200: sum((t) => t.answered200),
    answered_409: sum((t) => t.answered409),
    answered_503: sum((t) => t.answered503),
    unanswered: sum((t) => t.unanswered),
    alone_ms_max: alone.length > 0 ? Math.max(...alone) : null,
    faults: summarizeFaultKinds(results),
    points,
  };
}

/** True when every invariant held in every trial, nothing is left prepared and every fault happened. */
export function threePhasePassed(summary: ThreePhaseFaultSummary): boolean {
  return (
    summary.trials > 0 &&
    summary.violations === 0 &&
    summary.lost === 0 &&
    summary.duplicated === 0 &&
    summary.left_in_doubt === 0 &&
    summary.not_injected === 0
  );
}
