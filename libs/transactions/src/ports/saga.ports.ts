/**
 * Ports of the orchestrated saga. The core in `saga/` sees only these; the PostgreSQL adapter implements
 * the log, and the in-memory twin under `testing/` drives the property spec.
 */

/**
 * States of a saga in its log. running → completed, or running → compensating → aborted.
 * `compensating` is durable before the first compensation runs: a saga never goes forward again after it.
 */
export type SagaState = 'running' | 'compensating' | 'completed' | 'aborted';

/**
 * States of one step. pending → started → done; started → failed (the saga compensates); then
 * (started | done | failed) → compensating → compensated. `started` is written before every action
 * attempt and `compensating` before every compensation attempt, so the log always knows which effects
 * may exist.
 */
export type SagaStepStatus = 'pending' | 'started' | 'done' | 'failed' | 'compensating' | 'compensated';

export interface SagaStepRecord {
  /** Position in the workflow, from 0. */
  index: number;
  name: string;
  status: SagaStepStatus;
  /** Action attempts begun (each logged before it ran). */
  attempts: number;
  /** Compensation attempts begun. */
  compensationAttempts: number;
  /** What the action returned, once `done` (JSON). */
  result?: unknown;
  /** Why the step failed or its last compensation attempt failed, without patient data. */
  error?: string;
}

/** One saga as its log holds it. */
export interface SagaRecord {
  gtid: string;
  /** Name of the workflow that runs it (the orchestrator must know it to resume). */
  workflow: string;
  /** The saga's input as started (JSON); actions and compensations receive it again after a restart. */
  input: unknown;
  state: SagaState;
  steps: SagaStepRecord[];
  /** The client's own reference for the request, kept beside the gtid. */
  correlationId?: string;
  /** The step whose failure turned the saga to compensation. */
  failedStep?: string;
  /** Why it compensates (the failed step's reason). */
  reason?: string;
  /** Runs that had to leave the saga unfinished (a compensation that kept failing, an unknown workflow). */
  retries: number;
  lastError?: string;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * The right to write one saga's log: handed out by `begin` and by `claimUnfinished`, renewed by every
 * write made under it. A claim by another orchestrator (once the lease ran out) gives the saga a new
 * token; every later write under the old one fails with `SagaLeaseLostError`, so a replica that lost its
 * lease stops at its next log write — which comes before every action and every compensation.
 */
export interface SagaLease {
  gtid: string;
  token: string;
  /** How long each write extends the lease. */
  leaseMs: number;
}

export interface NewSaga {
  gtid: string;
  workflow: string;
  input: unknown;
  steps: readonly string[];
  correlationId?: string;
}

/** A write under a lease that another orchestrator took over (or under a saga already finished). */
export class SagaLeaseLostError extends Error {
  constructor(readonly gtid: string) {
    super(`saga ${gtid} is no longer leased to this orchestrator`);
  }
}

/**
 * The saga log. Every write is durable before it resolves (synchronous commit): recovery decides from it
 * alone what may have happened in the participants. Every write but `begin` and `claimUnfinished` is made
 * under a lease, renews it, and throws `SagaLeaseLostError` when the lease is no longer the saga's.
 */
export interface SagaLog {
  /**
   * Records a new saga (`running`, every step `pending`) leased to `owner`. Throws GtidInUseError when the
   * log already holds the gtid: a gtid names one saga for good.
   */
  begin(saga: NewSaga, owner: string, leaseMs: number): Promise<SagaLease>;
  /** Before action attempt `attempt` (1, 2…) of step `index`: the step is `started`. */
  stepStarted(lease: SagaLease, index: number, attempt: number): Promise<void>;
  /** The action succeeded: the step is `done`, with its result. */
  stepDone(lease: SagaLease, index: number, result: unknown): Promise<void>;
  /**
   * The step failed for good (refused, or its attempts used up): the step is `failed` and the saga
   * `compensating`, in one write.
   */
  stepFailed(lease: SagaLease, index: number, reason: string): Promise<void>;
  /** Before compensation attempt `attempt` of step `index`: the step is `compensating`. */
  compensationStarted(lease: SagaLease, index: number, attempt: number, lastError?: string): Promise<void>;
  /** The compensation succeeded: the step is `compensated`. */
  stepCompensated(lease: SagaLease, index: number): Promise<void>;
  /** The saga is `completed` (from `running`) or `aborted` (from `compensating`); its lease is released. */
  finish(lease: SagaLease, outcome: 'completed' | 'aborted'): Promise<void>;
  /**
   * Gives the saga back unfinished: its lease is released and it becomes claimable `retryAfterMs` from now
   * (a compensation that keeps failing backs off). Counts a retry and keeps `error`.
   */
  release(lease: SagaLease, error: string, retryAfterMs: number): Promise<void>;
  /**
   * Claims up to `limit` unfinished sagas (`running` or `compensating`) whose lease ran out or was
   * released, each under a new lease for `owner`; never one that another claim holds (a claim is atomic:
   * `FOR UPDATE SKIP LOCKED` in PostgreSQL).
   */
  claimUnfinished(
    owner: string,
    limit: number,
    leaseMs: number,
  ): Promise<{ lease: SagaLease; saga: SagaRecord }[]>;
  get(gtid: string): Promise<SagaRecord | undefined>;
}
