// What a 2PC fault run injects, what it expects and how its trials are summed up: the protocol points in
// rotation, what a committed record update leaves in each database, what a trial observes and reports,
// and the run's summary. The trials themselves run in faults-2pc.ts.
import { ProtocolPoint, protocolPointsOf } from '@hospital/transactions/core/protocol-points';
import type { TwoPhaseServiceName as ServiceName } from '../services';
import type { Log } from './bench-cluster';

export const MRN_SYSTEM = 'urn:oid:1.2.36.146.595.217.0.1';
export const LAB_CODE = '108252007';
export const IMAGING_CODE = '363679005';

/** The coordinator runs in emr; lis and pacs are the participants. */
export const COORDINATOR: ServiceName = 'emr';
export const PARTICIPANTS: readonly ServiceName[] = ['lis', 'pacs'];

/**
 * Trial order within a round. A kill after the COMMIT decision leaves the coordinator's record leased for
 * 30 s (its decision lease) before recovery marks it committed, and a process armed at `mid-phase-two` or
 * `before-commit` would die while that recovery re-drives the earlier transaction; so those two trials wait
 * until no earlier transaction is still committing. Putting them first, apart, keeps the waits short.
 */
export const TRIAL_POINT_ORDER: readonly ProtocolPoint[] = [
  '2pc.coordinator.mid-phase-two',
  '2pc.participant.before-prepare',
  '2pc.coordinator.before-decision',
  '2pc.participant.after-prepare',
  '2pc.participant.before-commit',
  '2pc.coordinator.after-decision',
];

/** Points whose armed process recovery of an earlier committing transaction would reach. */
export const REACHED_BY_RECOVERY: readonly ProtocolPoint[] = [
  '2pc.coordinator.mid-phase-two',
  '2pc.participant.before-commit',
];

export interface TrialPlan {
  index: number;
  point: ProtocolPoint;
  victim: ServiceName;
}

/** `count` trials round-robin over every protocol point; participant kills alternate between lis and pacs. */
export function planTrials(count: number, points: readonly ProtocolPoint[] = TRIAL_POINT_ORDER): TrialPlan[] {
  const missing = protocolPointsOf('2pc').filter((p) => !points.includes(p));
  if (points === TRIAL_POINT_ORDER && missing.length > 0) {
    throw new Error(`trial order misses protocol point(s) ${missing.join(', ')}`);
  }
  let participantTrials = 0;
  return Array.from({ length: count }, (_, index) => {
    const point = points[index % points.length];
    const victim = point.startsWith('2pc.coordinator.')
      ? COORDINATOR
      : PARTICIPANTS[participantTrials++ % PARTICIPANTS.length];
    return { index, point, victim };
  });
}

export type Presence = 'complete' | 'absent' | 'partial';

export interface Expected {
  patients: number;
  encounters: number;
  lab: number;
  imaging: number;
}

/** What one committed record update leaves in each database. */
export const EXPECTED: Record<ServiceName, Expected> = {
  emr: { patients: 1, encounters: 1, lab: 1, imaging: 1 },
  lis: { patients: 1, encounters: 0, lab: 1, imaging: 0 },
  pacs: { patients: 1, encounters: 0, lab: 0, imaging: 1 },
};

export interface DatabaseObservation {
  patients: string[];
  encounters: string[];
  lab: string[];
  imaging: string[];
  /** ServiceRequests about the patient that are neither laboratory nor imaging. */
  other: string[];
  /** `tx_participant_branch.state` for the gtid (participants only). */
  branch?: string;
  presence: Presence;
}

export interface Observation {
  /** The gtid the EMR minted for the trial's request, once its `tx_global` row exists. */
  gtid?: string;
  /** `tx_global.state` in emr, undefined when there is no row. */
  txState?: string;
  /** Databases holding a prepared transaction of the gtid. */
  prepared: string[];
  databases: Record<ServiceName, DatabaseObservation>;
}

export type Decision = 'committed' | 'aborted';

export interface TrialResult extends TrialPlan {
  /** Sent as `x-correlation-id`: the EMR mints the gtid itself and records this beside it. */
  correlationId: string;
  /** The gtid the EMR minted, once seen in its log. */
  gtid?: string;
  mrn: string;
  /** HTTP status the client got, or 'none' when the connection broke first. */
  http: number | 'none';
  httpDetail?: string;
  victimDied: boolean;
  victimExit?: string;
  /** The coordinator's decision (presumed abort), once quiescent. */
  decision?: Decision;
  /** tx_global ended committed or aborted (or absent) and was checked again then. */
  settled: boolean;
  /**
   * Time from the victim's death until no branch was left prepared and the decision was taken (the
   * restart of the victim included).
   */
  resolveMs?: number;
  observation?: Observation;
  /** Findings of the trial itself (the victim died otherwise, resolution took too long); kept on re-checks. */
  faultNotes: string[];
  violations: string[];
  lost: boolean;
  duplicated: boolean;
  leftInDoubt: boolean;
}

export interface FaultLabOptions {
  /** Database suffix (`hospital_<service>_<suffix>`). */
  suffix: string;
  portBase: number;
  log?: Log;
  /** Per-trial bound on resolution (no branch left prepared, a decision taken). */
  resolveTimeoutMs?: number;
  /**
   * Bound on the coordinator marking a decided transaction committed or aborted (120 s by default): after
   * its decision lease (30 s) the coordinator's recovery re-drives phase two, and backs off (1 s, 4 s,
   * 16 s, then 30 s) each time a participant is down — which the trials in between make frequent.
   */
  settleTimeoutMs?: number;
  /** How long the armed victim has to die after the request. */
  deathTimeoutMs?: number;
  /** Time-outs for the services; short so recovery acts within a trial. */
  env?: Record<string, string>;
}

const FINAL_STATES = new Set(['committed', 'aborted']);
export const isFinal = (state: string | undefined): boolean => state === undefined || FINAL_STATES.has(state);
/** Presumed abort: only a durable commit decision means commit. */
export const decisionOf = (state: string | undefined): Decision =>
  state === 'committing' || state === 'committed' ? 'committed' : 'aborted';

export const DEFAULT_FAULT_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  TX_VOTE_TIMEOUT_MS: '2000',
  TX_IN_DOUBT_AFTER_MS: '1000',
  TX_RECOVERY_INTERVAL_MS: '300',
};

export interface PointSummary {
  trials: number;
  committed: number;
  aborted: number;
  violations: number;
  not_injected: number;
  /** Longest time from a kill to resolution (restart included), ms. */
  resolve_ms_max: number | null;
}

export interface FaultSummary {
  scenario: '2pc';
  trials: number;
  violations: number;
  lost: number;
  duplicated: number;
  left_in_doubt: number;
  /** Trials whose victim never reached its fault point (nothing injected). */
  not_injected: number;
  committed: number;
  aborted: number;
  /** Violations that belong to no single trial (rows nobody wrote). */
  global_violations: number;
  points: Record<string, PointSummary>;
}

export function summarize(
  results: readonly TrialResult[],
  globalViolations: readonly string[] = [],
): FaultSummary {
  const points: Record<string, PointSummary> = {};
  for (const trial of results) {
    const key = trial.point.startsWith('2pc.participant.') ? `${trial.point}@${trial.victim}` : trial.point;
    const p = (points[key] ??= {
      trials: 0,
      committed: 0,
      aborted: 0,
      violations: 0,
      not_injected: 0,
      resolve_ms_max: null,
    });
    p.trials += 1;
    if (trial.decision === 'committed') p.committed += 1;
    if (trial.decision === 'aborted') p.aborted += 1;
    p.violations += trial.violations.length;
    if (!trial.victimDied) p.not_injected += 1;
    if (trial.resolveMs !== undefined) p.resolve_ms_max = Math.max(p.resolve_ms_max ?? 0, trial.resolveMs);
  }
  const count = (test: (t: TrialResult) => boolean): number => results.filter(test).length;
  return {
    scenario: '2pc',
    trials: results.length,
    violations: results.reduce((n, t) => n + t.violations.length, 0) + globalViolations.length,
    lost: count((t) => t.lost),
    duplicated: count((t) => t.duplicated),
    left_in_doubt: count((t) => t.leftInDoubt),
    not_injected: count((t) => !t.victimDied),
    committed: count((t) => t.decision === 'committed'),
    aborted: count((t) => t.decision === 'aborted'),
    global_violations: globalViolations.length,
    points,
  };
}

/** True when every invariant held in every trial and every fault was really injected. */
export function passed(summary: FaultSummary): boolean {
  return summary.violations === 0 && summary.not_injected === 0 && summary.trials > 0;
}
