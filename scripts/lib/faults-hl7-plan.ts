// What a fault run of the laboratory and imaging loop injects and how its trials are summed up: the fault
// kinds and their rotation, the ports and environment of a run, what a trial records, and the run's
// summary. The trials themselves run in faults-hl7.ts, their checks in faults-hl7-invariants.ts.
import type { Log } from './bench-cluster';
import { type FaultKindSummary, summarizeFaultKinds } from './faults-outbox-plan';
import type { TrialRecord } from './faults-report';

export type { FaultKindSummary, Finding } from './faults-outbox-plan';

/** The faults a trial injects, one per trial, in rotation. */
export type Hl7FaultKind = 'analyzer-down' | 'listener-killed' | 'orthanc-restarted';

export const HL7_FAULT_ORDER: readonly Hl7FaultKind[] = [
  'analyzer-down',
  'listener-killed',
  'orthanc-restarted',
];

export const HL7_FAULTS: Readonly<Record<Hl7FaultKind, { description: string }>> = {
  'analyzer-down': {
    description: 'analyzer stopped (port refusing) before the order, started again on the same port',
  },
  'listener-killed': {
    description: 'half an ORU^R01 frame on the LIS listener, then the LIS SIGKILLed and restarted',
  },
  'orthanc-restarted': {
    description: 'Orthanc restarted after the worklist entry, and again right after the study was stored',
  },
};

export interface Hl7TrialPlan {
  index: number;
  fault: Hl7FaultKind;
}

/** `count` trials round-robin over `faults`. */
export function planHl7Trials(
  count: number,
  faults: readonly Hl7FaultKind[] = HL7_FAULT_ORDER,
): Hl7TrialPlan[] {
  return Array.from({ length: count }, (_, index) => ({ index, fault: faults[index % faults.length] }));
}

/** The ports of a run: the three services from `portBase` + 1 (ServiceCluster), the rest given here. */
export interface Hl7Ports {
  /** emr portBase + 1, lis portBase + 2, pacs portBase + 3. */
  portBase: number;
  orthancHttp: number;
  orthancDicom: number;
  /** The analyzer simulator's order port (the LIS's ANALYZER_MLLP_PORT). */
  analyzer: number;
  /** The LIS's MLLP listener for results (its HL7_LISTEN_PORT). */
  listener: number;
}

export interface Hl7FaultLabOptions {
  /** Database suffix (`hospital_<service>_<suffix>`). */
  suffix: string;
  /** Every exchange and queue of the run is prefixed with it; deleted at the end. */
  namespace: string;
  ports: Hl7Ports;
  log?: Log;
  /** How long the analyzer stays down in an `analyzer-down` trial (ms). */
  analyzerDownMs?: number;
  /** Bound on a trial's settling: both results in the EMR, nothing pending (ms). */
  settleTimeoutMs?: number;
  /** Extra environment for the services. */
  env?: Record<string, string>;
}

/** Short intervals, so that a trial settles in seconds. */
export const HL7_FAULT_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  OUTBOX_POLL_MS: '100',
  ANALYZER_ACK_TIMEOUT_MS: '3000',
  ORTHANC_POLL_MS: '200',
  ORTHANC_MAX_BACKOFF_MS: '1000',
  TX_VOTE_TIMEOUT_MS: '5000',
};

/** The orders of one trial, under the ids the EMR gave them (the departments keep the same ids). */
export interface TrialOrders {
  patientId: string;
  lab: string;
  imaging: string;
  /** The PACS's accession number for the imaging order, once it holds the order. */
  accession?: string;
  /** The StudyInstanceUID of the study the modality stored. */
  studyInstanceUid?: string;
}

export interface Hl7TrialResult extends Hl7TrialPlan, TrialRecord {
  mrn: string;
  /** HTTP status of the record update, or 'none' when no answer came. */
  http: number | 'none';
  orders?: TrialOrders;
  injected: boolean;
  /** Results the analyzer sent that found no LIS listening (its retries), during this trial. */
  resultRetries: number;
  /** Time from the record update's answer until both results were in the EMR and nothing was pending. */
  settleMs?: number;
}

export interface Hl7FaultSummary {
  scenario: 'hl7';
  trials: number;
  violations: number;
  lost: number;
  duplicated: number;
  not_injected: number;
  /** Distinct orders the analyzer received, results it had acknowledged, studies the modality stored. */
  analyzer_orders: number;
  analyzer_results: number;
  studies_stored: number;
  faults: Partial<Record<Hl7FaultKind, FaultKindSummary>>;
}

export function summarizeHl7(
  results: readonly Hl7TrialResult[],
  totals: { analyzerOrders: number; analyzerResults: number; studiesStored: number },
): Hl7FaultSummary {
  const sum = (pick: (t: Hl7TrialResult) => number): number => results.reduce((n, t) => n + pick(t), 0);
  return {
    scenario: 'hl7',
    trials: results.length,
    violations: sum((t) => t.violations),
    lost: sum((t) => t.lost),
    duplicated: sum((t) => t.duplicated),
    not_injected: results.filter((t) => !t.injected).length,
    analyzer_orders: totals.analyzerOrders,
    analyzer_results: totals.analyzerResults,
    studies_stored: totals.studiesStored,
    faults: summarizeFaultKinds(results),
  };
}

/** True when every invariant held in every trial and every fault was really injected. */
export function hl7Passed(summary: Hl7FaultSummary): boolean {
  return (
    summary.trials > 0 &&
    summary.violations === 0 &&
    summary.lost === 0 &&
    summary.duplicated === 0 &&
    summary.not_injected === 0
  );
}
