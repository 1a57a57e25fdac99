/** What an action receives besides the saga's input. */
export interface SagaStepContext {
  gtid: string;
  /** The step's name: with the gtid, the key a participant makes the action idempotent on. */
  step: string;
  /** 1, 2… counted in the log, across restarts of the orchestrator. */
  attempt: number;
  /** Results of the steps done before this one, by step name (as stored in the log: JSON). */
  results: Readonly<Record<string, unknown>>;
}

/** What a compensation receives besides the saga's input. */
export interface SagaCompensationContext extends SagaStepContext {
  /**
   * True when the action's success was logged (`result` is then what it returned). False when it failed,
   * timed out or its orchestrator died mid-call: it may have partly happened, or not at all, and the
   * compensation must then find out by the gtid and step name and tolerate "nothing to undo".
   */
  actionDone: boolean;
  result?: unknown;
}

/**
 * One step: an action that commits in a participant and the compensation that undoes it. Both are called
 * with the saga's input and may be called more than once for the same saga (after a crash, a time-out,
 * a lost reply): each must be idempotent per gtid + step. A participant must also refuse an action that
 * arrives after the compensation of the same gtid + step (a late request from a replica that lost its
 * lease), as a TCC barrier does, or a compensated effect could come back.
 */
export interface SagaStep<I> {
  name: string;
  /**
   * Applies the step and resolves with its result (JSON: it is logged, and handed to later steps and to
   * the compensation). Throwing `StepRefusedError` refuses it for good (a business reason): the saga
   * compensates at once. Any other error (or no answer within the step time-out) is transient: the
   * action is tried again, up to `attempts` in all, then the step fails and the saga compensates.
   */
  action(input: I, context: SagaStepContext): Promise<unknown>;
  /** Undoes the action, or records that there was nothing to undo. Retried until it succeeds. */
  compensate(input: I, context: SagaCompensationContext): Promise<void>;
  /** Action attempts before a transient failure fails the step (default: the orchestrator's `stepAttempts`). */
  attempts?: number;
}

/** A workflow: its steps, run in order and compensated in reverse. Declared once, with `defineSaga`. */
export interface SagaWorkflow<I> {
  readonly name: string;
  readonly steps: readonly SagaStep<I>[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** Declares a workflow; throws on a name or step list the log could not hold or resume. */
export function defineSaga<I>(name: string, steps: readonly SagaStep<I>[]): SagaWorkflow<I> {
  if (!NAME.test(name)) throw new RangeError(`saga workflow name '${name}' is not a valid name`);
  if (steps.length === 0) throw new RangeError(`saga workflow '${name}' has no steps`);
  const seen = new Set<string>();
  for (const step of steps) {
    if (!NAME.test(step.name)) throw new RangeError(`step name '${step.name}' of '${name}' is not valid`);
    if (seen.has(step.name)) throw new RangeError(`saga workflow '${name}' names step '${step.name}' twice`);
    seen.add(step.name);
    if (step.attempts !== undefined && (!Number.isInteger(step.attempts) || step.attempts < 1))
      throw new RangeError(`step '${step.name}' of '${name}': attempts must be a positive integer`);
  }
  return Object.freeze({ name, steps: Object.freeze([...steps]) });
}

/** Thrown by an action that refuses for a business reason: no retry, the saga compensates at once. */
export class StepRefusedError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export type SagaResult =
  | { gtid: string; outcome: 'completed'; results: Record<string, unknown> }
  | {
      gtid: string;
      outcome: 'aborted';
      failedStep: string;
      reason: string;
      /**
       * False when a compensation kept failing and the saga was left to recovery, which retries it until
       * it succeeds; the outcome (aborted) is final either way.
       */
      compensated: boolean;
    };

/**
 * The orchestrator could not drive the saga to an outcome (its log failed, or another replica took the
 * saga over). The saga is in the log and recovery finishes it; the caller must not assume an outcome.
 */
export class SagaUnfinishedError extends Error {
  constructor(
    readonly gtid: string,
    override readonly cause?: unknown,
  ) {
    super(`saga ${gtid} was left unfinished; recovery will settle it`);
  }
}
