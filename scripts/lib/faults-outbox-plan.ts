// What a fault run of the pharmacy's outbox chain injects and how its trials are summed up: the faults and
// their rotation, the stock and environment of a run, what a trial reports, and the run's summary.
// The trials themselves run in faults-outbox.ts.
import type { ProtocolPoint } from '@hospital/transactions/core/protocol-points';
/* eslint-disable no-restricted-imports -- the runner seeds the parts' own stock lines */
import type { StockSeedLine } from '../../apps/pharmacy/src/inventory/database/seeds/stock';
/* eslint-enable no-restricted-imports */
import type { Log } from './bench-cluster';
import type { PharmacyRole } from './pharmacy-cluster';

/** The faults a trial injects, one per trial, in rotation. */
export type FaultKind =
  | 'relay-kill-mid-batch'
  | 'relay-kill-after-publish'
  | 'consumer-kill'
  | 'broker-restart'
  | 'duplicates'
  | 'two-relays'
  | 'producer-kill-after-prepare'
  | 'producer-kill-after-local-commit'
  | 'server-kill-after-publish';

export interface FaultDefinition {
  /** The process that SIGKILLs itself at a protocol point (restarted without the fault once dead). */
  kill?: { role: PharmacyRole; point: ProtocolPoint };
  description: string;
}

export const FAULTS: Readonly<Record<FaultKind, FaultDefinition>> = {
  'relay-kill-mid-batch': {
    kill: { role: 'relay', point: 'outbox.relay.mid-batch' },
    description: 'relay SIGKILLed with half a batch confirmed, nothing marked published',
  },
  'relay-kill-after-publish': {
    kill: { role: 'relay', point: 'outbox.relay.after-publish' },
    description: 'relay SIGKILLed with the whole batch confirmed, before the mark',
  },
  'consumer-kill': {
    kill: { role: 'inventory', point: 'outbox.consumer.after-commit' },
    description: 'inventory SIGKILLed after its inbox commit, before the broker ack',
  },
  'broker-restart': { description: 'RabbitMQ stopped (rabbitmqctl stop) mid-stream and started again' },
  duplicates: { description: 'delivered events re-published on the broker with the same ids and headers' },
  'two-relays': { description: 'a second relay process next to the first' },
  'producer-kill-after-prepare': {
    kill: { role: 'supply-chain', point: 'message.producer.after-prepare' },
    description: 'supply chain SIGKILLed after preparing a purchase order, before its local transaction',
  },
  'producer-kill-after-local-commit': {
    kill: { role: 'supply-chain', point: 'message.producer.after-local-commit' },
    description: 'supply chain SIGKILLed after committing a purchase order, before submitting it',
  },
  'server-kill-after-publish': {
    kill: { role: 'messages', point: 'message.server.after-publish' },
    description: 'message server SIGKILLed after the broker confirmed a purchase order, before its mark',
  },
};

/**
 * Rotation order. The two slow trials (a dead producer's reorder lease and the message server's publishing
 * lease are 30 s each) are spread out between quick ones.
 */
export const FAULT_ORDER: readonly FaultKind[] = [
  'relay-kill-mid-batch',
  'consumer-kill',
  'producer-kill-after-local-commit',
  'broker-restart',
  'duplicates',
  'server-kill-after-publish',
  'two-relays',
  'relay-kill-after-publish',
  'producer-kill-after-prepare',
];

export interface OutboxTrialPlan {
  index: number;
  fault: FaultKind;
}

/** `count` trials round-robin over `faults`. */
export function planOutboxTrials(
  count: number,
  faults: readonly FaultKind[] = FAULT_ORDER,
): OutboxTrialPlan[] {
  const missing = (Object.keys(FAULTS) as FaultKind[]).filter((f) => !faults.includes(f));
  if (faults === FAULT_ORDER && missing.length > 0)
    throw new Error(`fault order misses ${missing.join(', ')}`);
  return Array.from({ length: count }, (_, index) => ({ index, fault: faults[index % faults.length] }));
}

/**
 * The stock of a run: few lines, low stock and a reorder point half-way down, so that a few seconds of
 * dispenses open reorders (and purchase orders, and deliveries) in every trial.
 */
export const FAULT_STOCK: readonly StockSeedLine[] = [
  ['197361', 'ward-3a'],
  ['314076', 'ward-3a'],
  ['313782', 'icu'],
  ['198440', 'icu'],
  ['243670', 'main-pharmacy'],
  ['308182', 'main-pharmacy'],
].map(([medicationCode, locationId]) => ({
  medicationCode,
  locationId,
  onHand: 150,
  reorderPoint: 75,
  reorderQuantity: 100,
}));

/** Environment of every process of a run: short delays and time-outs, so a trial settles in seconds. */
export const DEFAULT_OUTBOX_FAULT_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  PG_POOL_SIZE: '6',
  SUPPLIER_DELAY_MS: '300',
  MESSAGE_CHECK_BACK_AFTER_MS: '2000',
  TX_RECOVERY_INTERVAL_MS: '250',
  TX_VOTE_TIMEOUT_MS: '2000',
  OUTBOX_BATCH_SIZE: '20',
  OUTBOX_POLL_MS: '250',
  CONSUMER_PREFETCH: '50',
};

/** One thing found wrong. `key` names the thing, so a finding that persists is reported once. */
export interface Finding {
  key: string;
  kind: 'lost' | 'duplicated' | 'in-doubt' | 'violation';
  message: string;
}

export interface Evaluation {
  findings: Finding[];
  dispenses: number;
  purchaseOrders: number;
  deliveries: number;
  /** Two-phase messages still prepared or submitted. */
  inDoubt: number;
}

export interface OutboxTrialResult extends OutboxTrialPlan {
  victim?: PharmacyRole;
  /** True when the fault happened (the victim died at its point; the broker went down; duplicates went out). */
  injected: boolean;
  victimExit?: string;
  /** Dispenses the API answered 201, and requests that got anything else. */
  dispenses: number;
  failedRequests: number;
  /** Purchase orders placed (committed at the supply chain) during the trial. */
  purchaseOrders: number;
  duplicatesInjected: number;
  /**
   * Deliveries the consumers' inboxes recognised as already applied during the trial (from their
   * `/metrics`; a lower bound, since a restarted consumer's counter starts again at zero).
   */
  duplicatesAbsorbed: number;
  /** Time from the end of the load until everything was quiet (undefined: not quiet in time). */
  settleMs?: number;
  seconds: number;
  /** Milliseconds spent arming, under load, restarting the victim, settling, checking. */
  phases: Record<string, number>;
  /** What happened besides the fault (informational). */
  notes: string[];
  /** What went wrong with the trial itself (each is also a finding). */
  problems: string[];
  /** Findings first seen in this trial. */
  findings: Finding[];
  violations: number;
  lost: number;
  duplicated: number;
  leftInDoubt: number;
}

export interface OutboxFaultLabOptions {
  /** Database suffix (`hospital_<part>_<suffix>`). */
  suffix: string;
  /** RabbitMQ namespace of the run (queues and exchanges are prefixed with it, deleted at the end). */
  namespace: string;
  portBase: number;
  log?: Log;
  /** Environment on top of DEFAULT_OUTBOX_FAULT_ENV. */
  env?: Record<string, string>;
  /** Dispenses per trial are driven this long (longer while an armed victim has not died yet). */
  loadMs?: number;
  /** Concurrent HTTP clients, and the most dispenses they post per second together. */
  concurrency?: number;
  ratePerSecond?: number;
  /** How long an armed victim may take to reach its point (the load goes on meanwhile). */
  victimTimeoutMs?: number;
  /** Bound on settling after a trial. */
  settleTimeoutMs?: number;
}

export interface FaultKindSummary {
  trials: number;
  violations: number;
  lost: number;
  duplicated: number;
  not_injected: number;
  seconds_max: number;
}

export interface OutboxFaultSummary {
  scenario: 'outbox';
  trials: number;
  violations: number;
  lost: number;
  duplicated: number;
  left_in_doubt: number;
  not_injected: number;
  /** Totals over the run, from the databases. */
  dispenses: number;
  purchase_orders: number;
  deliveries: number;
  duplicates_injected: number;
  /** Redeliveries the consumers' inboxes absorbed (a lower bound, from their metrics). */
  duplicates_absorbed: number;
  faults: Partial<Record<FaultKind, FaultKindSummary>>;
}

/** What the per-fault summary of any fault run needs of a trial. */
export interface TrialTally<K extends string> {
  fault: K;
  injected: boolean;
  violations: number;
  lost: number;
  duplicated: number;
  seconds: number;
}

/** Per fault kind: trials, violations, lost, duplicated, faults not injected and the longest trial. */
export function summarizeFaultKinds<K extends string>(
  results: readonly TrialTally<K>[],
): Partial<Record<K, FaultKindSummary>> {
  const faults: Partial<Record<K, FaultKindSummary>> = {};
  for (const t of results) {
    const f = (faults[t.fault] ??= {
      trials: 0,
      violations: 0,
      lost: 0,
      duplicated: 0,
      not_injected: 0,
      seconds_max: 0,
    });
    f.trials += 1;
    f.violations += t.violations;
    f.lost += t.lost;
    f.duplicated += t.duplicated;
    if (!t.injected) f.not_injected += 1;
    f.seconds_max = Math.max(f.seconds_max, Math.round(t.seconds * 10) / 10);
  }
  return faults;
}

export function summarizeOutbox(
  results: readonly OutboxTrialResult[],
  totals: Evaluation,
): OutboxFaultSummary {
  const faults = summarizeFaultKinds(results);
  const sum = (pick: (t: OutboxTrialResult) => number): number => results.reduce((n, t) => n + pick(t), 0);
  return {
    scenario: 'outbox',
    trials: results.length,
    violations: sum((t) => t.violations),
    lost: sum((t) => t.lost),
    duplicated: sum((t) => t.duplicated),
    left_in_doubt: sum((t) => t.leftInDoubt),
    not_injected: results.filter((t) => !t.injected).length,
    dispenses: totals.dispenses,
    purchase_orders: totals.purchaseOrders,
    deliveries: totals.deliveries,
    duplicates_injected: sum((t) => t.duplicatesInjected),
    duplicates_absorbed: sum((t) => t.duplicatesAbsorbed),
    faults,
  };
}

/** True when every invariant held in every trial and every fault was really injected. */
export function outboxPassed(summary: OutboxFaultSummary): boolean {
  return summary.trials > 0 && summary.violations === 0 && summary.not_injected === 0;
}
