// What a fault run of best-effort notification injects and how its trials are summed up: the faults and
// their rotation, the delivery policies the senders run with (derived from how long a receiver is down),
// what a trial reports, and the run's summary. The trials themselves run in faults-best-effort.ts.
import type { BackoffPolicy } from '@hospital/transactions/best-effort/backoff';
import type { Log } from './bench-cluster';
import { FaultKindSummary, Finding, summarizeFaultKinds } from './faults-outbox-plan';

export type { FaultKindSummary, Finding } from './faults-outbox-plan';

/** The processes of a run. */
export type BestEffortRole = 'icu-monitor' | 'icu-station' | 'appointments';
export const BEST_EFFORT_ROLES: readonly BestEffortRole[] = ['icu-monitor', 'icu-station', 'appointments'];

/** The faults a trial injects, one per trial, in rotation. */
export type BestEffortFaultKind =
  'station-down' | 'smtp-down' | 'monitor-kill-mid-retry' | 'appointments-kill-mid-retry' | 'broker-restart';

/** A receiver the lab takes down: the ICU station (a process) or the SMTP sink (in the runner). */
export type Receiver = 'station' | 'smtp';

export interface BestEffortFaultDefinition {
  /** Taken down for the run's down time, then brought back. */
  down?: Receiver;
  /**
   * Restarted with FAULT_KILL_AT at the dispatcher's after-delivery point while its receiver is down: it
   * SIGKILLs itself on the first retry that reaches the receiver once it is back, before recording it.
   */
  kill?: BestEffortRole;
  description: string;
}

/** The protocol point a dispatcher victim dies at. */
export const KILL_POINT = 'best-effort.dispatcher.after-delivery';

export const BEST_EFFORT_FAULTS: Readonly<Record<BestEffortFaultKind, BestEffortFaultDefinition>> = {
  'station-down': { down: 'station', description: 'ICU station stopped (SIGTERM) for the down time' },
  'smtp-down': { down: 'smtp', description: 'SMTP sink stopped for the down time' },
  'monitor-kill-mid-retry': {
    down: 'station',
    kill: 'icu-monitor',
    description: 'station down; the monitor SIGKILLed after its first retry reached the station',
  },
  'appointments-kill-mid-retry': {
    down: 'smtp',
    kill: 'appointments',
    description: 'SMTP down; appointments SIGKILLed after its first e-mail retry reached the sink',
  },
  'broker-restart': { description: 'own Mosquitto stopped (SIGTERM) mid-stream and started again' },
};

export const BEST_EFFORT_FAULT_ORDER: readonly BestEffortFaultKind[] = [
  'station-down',
  'smtp-down',
  'monitor-kill-mid-retry',
  'appointments-kill-mid-retry',
  'broker-restart',
];

export interface BestEffortTrialPlan {
  index: number;
  fault: BestEffortFaultKind;
}

/** `count` trials round-robin over `faults`. */
export function planBestEffortTrials(
  count: number,
  faults: readonly BestEffortFaultKind[] = BEST_EFFORT_FAULT_ORDER,
): BestEffortTrialPlan[] {
  return Array.from({ length: count }, (_, index) => ({ index, fault: faults[index % faults.length] }));
}

/** One sender's delivery policy, as its NOTIFICATION_* variables and as the checks read it. */
export interface SenderPolicy {
  maxAttempts: number;
  leaseMs: number;
  attemptTimeoutMs: number;
  backoff: BackoffPolicy;
}

export function policyEnv(policy: SenderPolicy): Record<string, string> {
  return {
    NOTIFICATION_POLL_MS: '250',
    NOTIFICATION_BATCH_SIZE: '50',
    NOTIFICATION_MAX_ATTEMPTS: String(policy.maxAttempts),
    NOTIFICATION_LEASE_MS: String(policy.leaseMs),
    NOTIFICATION_ATTEMPT_TIMEOUT_MS: String(policy.attemptTimeoutMs),
    NOTIFICATION_BASE_DELAY_MS: String(policy.backoff.baseDelayMs),
    NOTIFICATION_MAX_DELAY_MS: String(policy.backoff.maxDelayMs),
    NOTIFICATION_JITTER: policy.backoff.jitter,
  };
}

/**
 * The senders' policies for a run whose receivers go down for `downMs`. The monitor runs full jitter (no
 * floor: it cannot promise how many attempts an outage takes, so it may make a thousand); appointments
 * runs decorrelated jitter, whose floor of `baseDelayMs` between attempts bounds the attempts an outage
 * of `downMs` can use, so `maxAttempts` is set just above it: an e-mail always outlives the SMTP outage
 * and a push to the gateway that never comes back is dead-lettered soon after.
 */
export function senderPolicies(downMs: number): Record<'icu-monitor' | 'appointments', SenderPolicy> {
  const base = 500;
  return {
    'icu-monitor': {
      maxAttempts: 1_000,
      leaseMs: 2_500,
      attemptTimeoutMs: 1_500,
      backoff: { baseDelayMs: 200, maxDelayMs: 2_000, jitter: 'full' },
    },
    appointments: {
      // The outage's failed attempts, one abandoned by a killed dispatcher, and a margin.
      maxAttempts: Math.ceil(downMs / base) + 6,
      leaseMs: 2_500,
      attemptTimeoutMs: 1_500,
      backoff: { baseDelayMs: base, maxDelayMs: 3 * base, jitter: 'decorrelated' },
    },
  };
}

export interface BestEffortFaultLabOptions {
  /** Database suffix (`hospital_<service>_<suffix>`). */
  suffix: string;
  /** Service ports are portBase + 1 … + 3. */
  portBase: number;
  /** The run's own Mosquitto listens here. */
  mqttPort: number;
  /** How long a receiver is down in a trial, in ms. */
  downMs: number;
  log?: Log;
  /** Load before the fault and after the restore, each (ms). */
  leadMs?: number;
  /** Beds publishing vitals, and the time between two rounds of their seven vitals. */
  beds?: number;
  roundMs?: number;
  /** Bookings per second. */
  bookingsPerSecond?: number;
  /** Bound on settling after a trial. */
  settleTimeoutMs?: number;
}

export interface BestEffortTrialResult extends BestEffortTrialPlan {
  victim?: BestEffortRole;
  /** True when the fault happened (receiver down and back; broker restarted; victim SIGKILLed). */
  injected: boolean;
  victimExit?: string;
  /**
   * Services stopped by a SIGTERM or SIGINT this run did not send (another run on the machine): restarted
   * and noted, an extra fault the invariants must survive, not a violation.
   */
  externalStops: number;
  /** QoS 1 vitals the broker acknowledged to the bedside simulator during the trial. */
  vitalsAcked: number;
  /** Bookings answered 201 and cancellations 200; requests answered otherwise (e.g. the victim down). */
  bookings: number;
  cancellations: number;
  failedRequests: number;
  /** Notifications logged during the trial: alerts to the station, confirmations by e-mail and push. */
  alerts: number;
  emails: number;
  pushes: number;
  /** Repeated deliveries the receivers de-duplicated (station: a lower bound; SMTP sink: exact). */
  duplicatesAbsorbed: number;
  /** Vitals stored more than once (QoS 1 is at least once; the monitor does not de-duplicate them). */
  vitalsStoredTwice: number;
  /** Attempts recorded abandoned (a dispatcher killed mid-attempt) and failed, in the trial. */
  abandonedAttempts: number;
  failedAttempts: number;
  deadLettered: number;
  settleMs?: number;
  seconds: number;
  phases: Record<string, number>;
  notes: string[];
  problems: string[];
  findings: Finding[];
  violations: number;
  lost: number;
  duplicated: number;
}

export interface BestEffortFaultSummary {
  scenario: 'best-effort';
  trials: number;
  down_s: number;
  violations: number;
  lost: number;
  duplicated: number;
  left_in_doubt: number;
  not_injected: number;
  external_stops: number;
  vitals_acked: number;
  vitals_stored_twice: number;
  alerts: number;
  emails: number;
  pushes_dead_lettered: number;
  bookings: number;
  cancellations: number;
  duplicates_absorbed: number;
  abandoned_attempts: number;
  failed_attempts: number;
  faults: Partial<Record<BestEffortFaultKind, FaultKindSummary>>;
}

export function summarizeBestEffort(
  results: readonly BestEffortTrialResult[],
  downMs: number,
  final: { findings: Finding[]; pushesDeadLettered: number },
): BestEffortFaultSummary {
  const faults = summarizeFaultKinds(results);
  const sum = (pick: (t: BestEffortTrialResult) => number): number =>
    results.reduce((n, t) => n + pick(t), 0);
  const finalCount = (kind: Finding['kind']): number => final.findings.filter((f) => f.kind === kind).length;
  return {
    scenario: 'best-effort',
    trials: results.length,
    down_s: downMs / 1000,
    violations: sum((t) => t.violations) + final.findings.length,
    lost: sum((t) => t.lost) + finalCount('lost'),
    duplicated: sum((t) => t.duplicated) + finalCount('duplicated'),
    left_in_doubt: 0,
    not_injected: results.filter((t) => !t.injected).length,
    external_stops: sum((t) => t.externalStops),
    vitals_acked: sum((t) => t.vitalsAcked),
    vitals_stored_twice: sum((t) => t.vitalsStoredTwice),
    alerts: sum((t) => t.alerts),
    emails: sum((t) => t.emails),
    pushes_dead_lettered: final.pushesDeadLettered,
    bookings: sum((t) => t.bookings),
    cancellations: sum((t) => t.cancellations),
    duplicates_absorbed: sum((t) => t.duplicatesAbsorbed),
    abandoned_attempts: sum((t) => t.abandonedAttempts),
    failed_attempts: sum((t) => t.failedAttempts),
    faults,
  };
}

/** True when every invariant held in every trial and every fault was really injected. */
export function bestEffortPassed(summary: BestEffortFaultSummary): boolean {
  return summary.trials > 0 && summary.violations === 0 && summary.not_injected === 0;
}
