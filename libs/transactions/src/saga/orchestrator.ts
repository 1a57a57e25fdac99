import { backoffDelay, Clock, systemClock, withTimeout } from '../core/clock';
import { newGtid } from '../core/gtid';
import {
  errorMessage,
  ProtocolLogger,
  silentLogger,
  silentObserver,
  TransactionObserver,
} from '../core/observer';
import { noProtocolPoints, ProtocolPoints } from '../core/protocol-points';
import { assertPositiveIntegers } from '../core/options';
import { asJson, recoverSideBySide, recoveryRetryDelay } from '../core/recovery';
import { SagaLease, SagaLeaseLostError, SagaLog, SagaRecord, SagaStepRecord } from '../ports/saga.ports';
import {
  SagaCompensationContext,
  SagaResult,
  SagaStep,
  SagaStepContext,
  SagaUnfinishedError,
  SagaWorkflow,
  StepRefusedError,
} from './types';

export interface SagaOrchestratorOptions {
  /** Names this orchestrator (a replica id) in leases; never patient data. */
  name: string;
  /**
   * How long a saga stays with this orchestrator after each log write. Another replica claims it only
   * after that; it must exceed `stepTimeoutMs + retryMaxMs`, so a live orchestrator always writes again
   * (renewing it) before it runs out.
   */
  leaseMs: number;
  /** An action or compensation without an answer by then counts as a transient failure. */
  stepTimeoutMs: number;
  /** Action attempts of a step that declares none. */
  stepAttempts: number;
  /** Attempts of one compensation in one run before the saga is given back to recovery (which goes on). */
  compensationAttempts: number;
  /** Back-off between attempts: exponential with full jitter, capped. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long a saga given back stays unclaimed: 1×, 2×, 4×… this base, up to `recoveryRetryMaxMs`. */
  recoveryRetryBaseMs: number;
  recoveryRetryMaxMs: number;
  /** Unfinished sagas claimed per recovery sweep. */
  recoveryBatch: number;
  /** Announces protocol instants (fault injection); nothing by default. */
  points: ProtocolPoints;
}

export const defaultSagaOptions: Omit<SagaOrchestratorOptions, 'name'> = {
  leaseMs: 30_000,
  stepTimeoutMs: 10_000,
  stepAttempts: 3,
  compensationAttempts: 5,
  retryBaseMs: 100,
  retryMaxMs: 5_000,
  recoveryRetryBaseMs: 1_000,
  recoveryRetryMaxMs: 30_000,
  recoveryBatch: 20,
  points: noProtocolPoints,
};

/** Throws on options that cannot keep the style's promises. */
export function assertSagaOptions(options: SagaOrchestratorOptions): void {
  assertPositiveIntegers(options, [
    'stepTimeoutMs',
    'stepAttempts',
    'compensationAttempts',
    'retryBaseMs',
    'retryMaxMs',
    'recoveryRetryBaseMs',
    'recoveryRetryMaxMs',
    'recoveryBatch',
  ]);
  if (!Number.isInteger(options.leaseMs) || options.leaseMs <= options.stepTimeoutMs + options.retryMaxMs)
    throw new RangeError('leaseMs must be an integer greater than stepTimeoutMs + retryMaxMs');
}

export interface StartOptions {
  /** The client's own reference (`x-gtid` or `x-correlation-id`), kept beside the minted gtid. */
  correlationId?: string;
}

/** One saga being driven by this orchestrator, under its lease. */
interface Run {
  gtid: string;
  lease: SagaLease;
  workflow: SagaWorkflow<unknown>;
  input: unknown;
  steps: SagaStepRecord[];
  results: Record<string, unknown>;
  retries: number;
  started: number;
}

/**
 * Orchestrated saga. Framework-free: it talks to its log only through the `SagaLog` port, and to the
 * participants through the workflow's own actions and compensations.
 *
 * Invariants: every action and every compensation is preceded by a durable log write, made under the
 * saga's lease, saying it may happen (`started`, `compensating`), so the log always knows which effects
 * may exist. A saga that turned to compensation (`compensating`, durable) never runs an action again.
 * Compensations run in reverse step order, each only after every later step's compensation succeeded,
 * and are retried until they succeed. A saga is `completed` only when every action is logged done, and
 * `aborted` only when every step that may have taken effect is logged compensated.
 */
export class SagaOrchestrator {
  private readonly options: SagaOrchestratorOptions;
  private readonly workflows = new Map<string, SagaWorkflow<unknown>>();

  constructor(
    private readonly log: SagaLog,
    workflows: readonly SagaWorkflow<unknown>[],
    options: Partial<SagaOrchestratorOptions> & { name: string },
    private readonly observer: TransactionObserver = silentObserver,
    private readonly logger: ProtocolLogger = silentLogger,
    private readonly clock: Clock = systemClock,
  ) {
    this.options = { ...defaultSagaOptions, ...options };
    assertSagaOptions(this.options);
    for (const workflow of workflows) {
      if (this.workflows.has(workflow.name))
        throw new RangeError(`saga workflow '${workflow.name}' is registered twice`);
      this.workflows.set(workflow.name, workflow);
    }
  }

  /**
   * Runs a new saga of `workflow` (one this orchestrator was built with, so that recovery can resume it)
   * to its outcome: `completed` with every step's result, or `aborted` once the steps that may have taken
   * effect are compensated (or, with `compensated` false, left to recovery to finish compensating).
   * Throws SagaUnfinishedError when it could not reach an outcome (its log failed, or another replica
   * took the saga over); the input must be JSON.
   */
  async start<I>(workflow: SagaWorkflow<I>, input: I, options: StartOptions = {}): Promise<SagaResult> {
    if (this.workflows.get(workflow.name) !== workflow)
      throw new RangeError(`saga workflow '${workflow.name}' is not registered with this orchestrator`);
    const stored = asJson(input);
    const gtid = newGtid();
    const started = this.clock.now();
    this.observer.started('saga', gtid);
    let lease: SagaLease;
    try {
      lease = await this.log.begin(
        {
          gtid,
          workflow: workflow.name,
          input: stored,
          steps: workflow.steps.map((s) => s.name),
          ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
        },
        this.options.name,
        this.options.leaseMs,
      );
    } catch (error) {
      // The saga may or may not be in the log (a reply lost after the write): recovery runs it if it is.
      throw this.unfinished(gtid, error);
    }
    const run: Run = {
      gtid,
      lease,
      workflow: workflow,
      input: stored,
      steps: workflow.steps.map((s, index) => ({
        index,
        name: s.name,
        status: 'pending',
        attempts: 0,
        compensationAttempts: 0,
      })),
      results: {},
      retries: 0,
      started,
    };
    this.logger.info('saga started', { gtid, workflow: workflow.name });
    try {
      return await this.forward(run, 0);
    } catch (error) {
      throw this.unfinished(gtid, error);
    }
  }

  /**
   * One recovery sweep: claims unfinished sagas whose lease ran out (their orchestrator died, or gave
   * them back) and drives each on: forward from its first step not done while no step failed, else
   * compensating. The claimed sagas run side by side, each renewing its own lease as it goes. Returns
   * how many it finished.
   */
  async recover(): Promise<number> {
    const { name, recoveryBatch, leaseMs } = this.options;
    const claimed = await this.log.claimUnfinished(name, recoveryBatch, leaseMs);
    return recoverSideBySide(
      claimed.map((c) => ({ gtid: c.saga.gtid, ...c })),
      ({ lease, saga }) => this.resume(lease, saga),
      async ({ lease, saga }, error) => {
        await this.log.release(lease, error, this.retryAfter(saga.retries));
      },
      this.logger,
      'saga',
    );
  }

  private async resume(lease: SagaLease, saga: SagaRecord): Promise<boolean> {
    const { gtid } = saga;
    const workflow = this.workflows.get(saga.workflow);
    const names = workflow?.steps.map((s) => s.name).join(',');
    if (!workflow || names !== saga.steps.map((s) => s.name).join(',')) {
      // Another version of the service may know it: give it back, visibly, and try again later.
      const error = workflow
        ? `saga workflow '${saga.workflow}' has other steps here than in the log`
        : `saga workflow '${saga.workflow}' is not registered here`;
      this.logger.error('saga cannot be resumed', { gtid, workflow: saga.workflow, error });
      await this.log.release(lease, error, this.options.recoveryRetryMaxMs);
      return false;
    }
    const run: Run = {
      gtid,
      lease,
      workflow,
      input: saga.input,
      steps: saga.steps.map((s) => ({ ...s })),
      results: Object.fromEntries(
        saga.steps.filter((s) => s.result !== undefined).map((s) => [s.name, s.result]),
      ),
      retries: saga.retries,
      started: saga.createdAt.getTime(),
    };
    if (saga.state === 'running') {
      const from = run.steps.findIndex((s) => s.status !== 'done');
      this.observer.recovered('saga', gtid, 'resume');
      this.logger.info('saga recovery resumes it', { gtid, fromStep: run.steps[from]?.name ?? 'end' });
      const result = await this.forward(run, from === -1 ? run.steps.length : from);
      return result.outcome === 'completed' || result.compensated;
    }
    this.observer.recovered('saga', gtid, 'compensate');
    this.logger.info('saga recovery compensates it', { gtid, failedStep: saga.failedStep });
    const result = await this.compensate(
      run,
      saga.failedStep ?? 'unknown',
      saga.reason ?? 'the saga failed before a restart',
    );
    return result.outcome === 'aborted' && result.compensated;
  }

  /** Runs the steps from `from` on; compensates as soon as one fails for good. */
  private async forward(run: Run, from: number): Promise<SagaResult> {
    const { gtid, lease } = run;
    const { points } = this.options;
    for (let index = from; index < run.steps.length; index += 1) {
      const step = run.workflow.steps[index];
      const record = run.steps[index];
      const maxAttempts = step.attempts ?? this.options.stepAttempts;
      for (;;) {
        if (record.attempts >= maxAttempts) {
          // Only after a restart: the last attempt's outcome is unknown (its orchestrator died in it).
          return this.fail(run, index, `${step.name}: no attempt left after ${record.attempts}`);
        }
        const attempt = record.attempts + 1;
        await this.log.stepStarted(lease, index, attempt);
        record.attempts = attempt;
        record.status = 'started';
        points('saga.orchestrator.before-action', gtid);
        const context: SagaStepContext = { gtid, step: step.name, attempt, results: { ...run.results } };
        let result: unknown;
        try {
          result = asJson(await this.call(step, 'action', step.action(run.input, context)));
        } catch (error) {
          const message = errorMessage(error);
          if (error instanceof StepRefusedError)
            return this.fail(run, index, `${step.name} refused: ${message}`);
          record.error = message;
          this.observer.retried('saga', gtid, step.name, message);
          if (attempt >= maxAttempts)
            return this.fail(run, index, `${step.name} failed after ${attempt} attempts: ${message}`);
          this.logger.warn('saga step failed; retrying', { gtid, step: step.name, attempt, error: message });
          await this.clock.sleep(backoffDelay(attempt, this.options.retryBaseMs, this.options.retryMaxMs));
          continue;
        }
        points('saga.orchestrator.after-action', gtid);
        await this.log.stepDone(lease, index, result);
        record.status = 'done';
        record.result = result;
        run.results[step.name] = result;
        points('saga.orchestrator.after-step-logged', gtid);
        break;
      }
    }
    await this.log.finish(lease, 'completed');
    this.observer.finished('saga', gtid, 'committed', this.clock.now() - run.started);
    this.logger.info('saga completed', { gtid, workflow: run.workflow.name });
    return { gtid, outcome: 'completed', results: { ...run.results } };
  }

  private async fail(run: Run, index: number, reason: string): Promise<SagaResult> {
    const step = run.steps[index];
    await this.log.stepFailed(run.lease, index, reason);
    step.status = 'failed';
    step.error = reason;
    this.options.points('saga.orchestrator.after-failure-logged', run.gtid);
    this.logger.warn('saga step failed; compensating', { gtid: run.gtid, step: step.name, reason });
    return this.compensate(run, step.name, reason);
  }

  /**
   * Compensates, last step first, every step that may have taken effect (started, done, failed or
   * compensating), each retried with back-off until it succeeds; after `compensationAttempts` failed
   * attempts of one compensation in this run, gives the saga back to recovery, which goes on later.
   */
  private async compensate(run: Run, failedStep: string, reason: string): Promise<SagaResult> {
    const { gtid, lease } = run;
    for (let index = run.steps.length - 1; index >= 0; index -= 1) {
      const record = run.steps[index];
      if (record.status === 'pending' || record.status === 'compensated') continue;
      const step = run.workflow.steps[index];
      for (let tries = 0; ;) {
        if (tries >= this.options.compensationAttempts) {
          const error = `compensation of ${step.name} not done yet: ${record.error ?? 'failed'}`;
          this.logger.warn('saga compensation left to recovery', { gtid, step: step.name, error });
          await this.log.release(lease, error, this.retryAfter(run.retries));
          return { gtid, outcome: 'aborted', failedStep, reason, compensated: false };
        }
        const attempt = record.compensationAttempts + 1;
        tries += 1;
        await this.log.compensationStarted(lease, index, attempt);
        record.compensationAttempts = attempt;
        record.status = 'compensating';
        const context: SagaCompensationContext = {
          gtid,
          step: step.name,
          attempt,
          results: { ...run.results },
          actionDone: record.result !== undefined,
          ...(record.result === undefined ? {} : { result: record.result }),
        };
        try {
          await this.call(step, 'compensation', step.compensate(run.input, context));
        } catch (error) {
          const message = errorMessage(error);
          record.error = message;
          this.observer.retried('saga', gtid, `compensate ${step.name}`, message);
          if (tries < this.options.compensationAttempts)
            await this.clock.sleep(backoffDelay(attempt, this.options.retryBaseMs, this.options.retryMaxMs));
          continue;
        }
        this.options.points('saga.orchestrator.mid-compensation', gtid);
        await this.log.stepCompensated(lease, index);
        record.status = 'compensated';
        break;
      }
    }
    await this.log.finish(lease, 'aborted');
    this.observer.finished('saga', gtid, 'aborted', this.clock.now() - run.started);
    this.logger.info('saga aborted; every step compensated', { gtid, failedStep });
    return { gtid, outcome: 'aborted', failedStep, reason, compensated: true };
  }

  private call<T>(step: SagaStep<unknown>, what: string, promise: Promise<T>): Promise<T> {
    return withTimeout(promise, this.options.stepTimeoutMs, `${what} of ${step.name}`, this.clock);
  }

  private retryAfter(retries: number): number {
    return recoveryRetryDelay(retries, this.options.recoveryRetryBaseMs, this.options.recoveryRetryMaxMs);
  }

  private unfinished(gtid: string, error: unknown): SagaUnfinishedError {
    const fields = { gtid, error: errorMessage(error) };
    if (error instanceof SagaLeaseLostError)
      this.logger.warn('saga taken over by another orchestrator', fields);
    else this.logger.warn('saga left to recovery', fields);
    return new SagaUnfinishedError(gtid, error);
  }
}
