// What a fault run of multidisciplinary treatment plans injects and how its trials are summed up: the
// faults, the trials spread over the three modes (saga, quota-saga, tcc), the environment the services run
// with, what a trial reports, and the run's summary. The trials run in faults-care-plan.ts.
import { type ProtocolPoint, protocolPointsOf } from '@hospital/transactions/core/protocol-points';
import type { Log } from './bench-cluster';
import type { PlanMode, PlanServiceName } from './care-plan-cluster';
import { type FaultKindSummary, type Finding, summarizeFaultKinds } from './faults-outbox-plan';
import { spreadDeck, type TrialRecord } from './faults-report';

export type { FaultKindSummary, Finding } from './faults-outbox-plan';

/** The faults a trial injects, one per trial. */
export type CarePlanFaultKind = 'orchestrator-kill' | 'participant-kill' | 'redis-flush' | 'broker-restart';

export const CARE_PLAN_FAULT_ORDER: readonly CarePlanFaultKind[] = [
  'orchestrator-kill',
  'participant-kill',
  'redis-flush',
  'broker-restart',
];

export const CARE_PLAN_FAULTS: Readonly<Record<CarePlanFaultKind, { description: string }>> = {
  'orchestrator-kill': {
    description:
      'care-plans started with FAULT_KILL_AT=<a point of the mode>, SIGKILLs itself there, restarted',
  },
  'participant-kill': {
    description: 'appointments, pacs or pharmacy-inventory SIGKILLed while plans are booked, restarted',
  },
  'redis-flush': {
    description: "every key under the run's QUOTA_KEY_PREFIX of the three participants deleted mid-run",
  },
  'broker-restart': {
    description: 'RabbitMQ stopped (rabbitmqctl stop) while completion events are in flight, started again',
  },
};

/** The participants a participant-kill trial SIGKILLs, in rotation. */
export type CarePlanParticipant = Extract<PlanServiceName, 'appointments' | 'pacs' | 'pharmacy-inventory'>;
export const CARE_PLAN_PARTICIPANTS: readonly CarePlanParticipant[] = [
  'appointments',
  'pacs',
  'pharmacy-inventory',
];

export interface CarePlanTrialPlan {
  index: number;
  mode: PlanMode;
  fault: CarePlanFaultKind;
  /** orchestrator-kill: where care-plans kills itself. */
  point?: ProtocolPoint;
  /** participant-kill: the process SIGKILLed. */
  victim?: CarePlanParticipant;
}

type Deal = Omit<CarePlanTrialPlan, 'index'>;

/**
 * The deck of 30 a default run deals: every protocol point of the three modes once (11), every participant
 * killed once in each mode (9), Redis flushed 5 times and RabbitMQ restarted 5 times (quota-saga, the mode
 * that has a cache and completion events). Each kind is spread evenly over the deck.
 */
export function carePlanDeck(): Deal[] {
  const modes: readonly PlanMode[] = ['saga', 'quota-saga', 'tcc'];
  // The modes' points taken in turn (saga's first, quota-saga's first, TCC's first, saga's second…).
  const points = modes.map((mode) => protocolPointsOf(mode).map((point) => ({ mode, point })));
  const kills = Array.from({ length: Math.max(...points.map((p) => p.length)) }, (_, i) =>
    points.flatMap((p) => (i < p.length ? [p[i]] : [])),
  ).flat();
  const kinds: Deal[][] = [
    kills.map(({ mode, point }): Deal => ({ mode, fault: 'orchestrator-kill', point })),
    // Every participant in every mode, the modes in turn.
    Array.from({ length: 9 }, (_, i): Deal => ({
      mode: modes[i % 3],
      fault: 'participant-kill',
      victim: CARE_PLAN_PARTICIPANTS[(i + Math.floor(i / 3)) % 3],
    })),
    Array.from({ length: 5 }, (): Deal => ({ mode: 'quota-saga', fault: 'redis-flush' })),
    Array.from({ length: 5 }, (): Deal => ({ mode: 'quota-saga', fault: 'broker-restart' })),
  ];
  return spreadDeck(kinds);
}

/** `count` trials dealt round the deck, only of `faults` (all by default). */
export function planCarePlanTrials(
  count: number,
  faults: readonly CarePlanFaultKind[] = CARE_PLAN_FAULT_ORDER,
): CarePlanTrialPlan[] {
  const deck = carePlanDeck().filter((d) => faults.includes(d.fault));
  return Array.from({ length: count }, (_, index) => ({ index, ...deck[index % deck.length] }));
}

/** Every process's environment: short leases and sweeps, so a trial settles in seconds. */
export const CARE_PLAN_FAULT_ENV: Record<string, string> = {
  TX_RECOVERY_INTERVAL_MS: '500',
  OUTBOX_POLL_MS: '250',
  QUOTA_RESERVATION_TTL_MS: '15000',
  QUOTA_SWEEP_MS: '250',
  QUOTA_FULL_SWEEP_MS: '1000',
  QUOTA_IDLE_RETURN_MS: '10000',
  QUOTA_LOST_GRACE_MS: '20000',
};

/** care-plans': a dead replica's plans are taken over after 6 s. */
export const CARE_PLANS_FAULT_ENV: Record<string, string> = {
  CARE_PLAN_CALL_TIMEOUT_MS: '3000',
  CARE_PLAN_LEASE_MS: '6000',
};

export interface CarePlanFaultLabOptions {
  /** care-plans, then the EMR and the participants, on the five ports from here. */
  basePort: number;
  /** Database suffix (`hospital_<service>_<suffix>`). */
  suffix: string;
  log?: Log;
  /** Plans are booked at least this long (ms), and until the fault is done. */
  loadMs?: number;
  /** Concurrent clients, and the most plans they send per second together. */
  concurrency?: number;
  ratePerSecond?: number;
  /** How long after the load starts the fault is injected (ms). */
  leadMs?: number;
  /** How long an armed care-plans may take to reach its point. */
  victimTimeoutMs?: number;
  /** Bound on settling after a trial. */
  settleTimeoutMs?: number;
}

export interface CarePlanTrialResult extends CarePlanTrialPlan, TrialRecord {
  /** True when the fault happened (the victim died of SIGKILL; keys deleted; the broker restarted). */
  injected: boolean;
  victimExit?: string;
  /** Plans sent; answered 201 (active), 409 (revoked), 503 (a participant out of reach, or left to recovery), nothing. */
  plans: number;
  answeredActive: number;
  answeredRevoked: number;
  answeredUnavailable: number;
  unanswered: number;
  /** How the trial's plans ended once settled, in care-plans' database. */
  active: number;
  revoked: number;
  /** Plans whose request got no final answer and which recovery finished. */
  recovered: number;
  /** Quota keys deleted (redis-flush), completion events of the trial (quota-saga). */
  keysDeleted: number;
  completionEvents: number;
  settleMs?: number;
}

export interface CarePlanFaultSummary {
  scenario: 'care-plan';
  trials: number;
  violations: number;
  lost: number;
  duplicated: number;
  not_injected: number;
  plans: number;
  active: number;
  revoked: number;
  unavailable: number;
  unanswered: number;
  recovered: number;
  completion_events: number;
  keys_deleted: number;
  modes: Partial<Record<PlanMode, FaultKindSummary>>;
  faults: Partial<Record<CarePlanFaultKind, FaultKindSummary>>;
  /** `<mode>/<fault>` → trials. */
  mode_faults: Record<string, number>;
}

export function summarizeCarePlan(
  results: readonly CarePlanTrialResult[],
  final: readonly Finding[],
): CarePlanFaultSummary {
  const sum = (pick: (t: CarePlanTrialResult) => number): number => results.reduce((n, t) => n + pick(t), 0);
  const count = (kind: Finding['kind']): number => final.filter((f) => f.kind === kind).length;
  const modeFaults: Record<string, number> = {};
  for (const t of results) modeFaults[`${t.mode}/${t.fault}`] = (modeFaults[`${t.mode}/${t.fault}`] ?? 0) + 1;
  return {
    scenario: 'care-plan',
    trials: results.length,
    violations: sum((t) => t.violations) + final.length,
    lost: sum((t) => t.lost) + count('lost'),
    duplicated: sum((t) => t.duplicated) + count('duplicated'),
    not_injected: results.filter((t) => !t.injected).length,
    plans: sum((t) => t.plans),
    active: sum((t) => t.active),
    revoked: sum((t) => t.revoked),
    unavailable: sum((t) => t.answeredUnavailable),
    unanswered: sum((t) => t.unanswered),
    recovered: sum((t) => t.recovered),
    completion_events: sum((t) => t.completionEvents),
    keys_deleted: sum((t) => t.keysDeleted),
    modes: summarizeFaultKinds(results.map((t) => ({ ...t, fault: t.mode }))),
    faults: summarizeFaultKinds(results),
    mode_faults: modeFaults,
  };
}

/** True when every invariant held in every trial and every fault was really injected. */
export function carePlanPassed(summary: CarePlanFaultSummary): boolean {
  return summary.trials > 0 && summary.violations === 0 && summary.not_injected === 0;
}
