/** What a participant's Try, Confirm and Cancel receive besides the transaction's input. */
export interface TccBranchContext {
  gtid: string;
  /** The participant's branch name: with the gtid, the key of its barrier rows (`TccBranchKey`). */
  branch: string;
}

/**
 * One participant of a TCC workflow. Each call goes to a participant that runs it behind its barrier
 * (`TccBarrier`), so each may be sent more than once, late, or (Cancel) without a Try before it.
 */
export interface TccParticipant<I> {
  name: string;
  /** Reserves (holds stock, a slot) without applying. Throws when it refuses: the transaction cancels. */
  try(input: I, context: TccBranchContext): Promise<unknown>;
  /** Applies the reservation. Retried until it succeeds. */
  confirm(input: I, context: TccBranchContext): Promise<void>;
  /** Releases the reservation, or records that there was none. Retried until it succeeds. */
  cancel(input: I, context: TccBranchContext): Promise<void>;
}

/** A workflow: its participants, tried side by side. Declared once, with `defineTcc`. */
export interface TccWorkflow<I> {
  readonly name: string;
  readonly participants: readonly TccParticipant<I>[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** Declares a workflow; throws on a name or participant list the log could not hold or resume. */
export function defineTcc<I>(name: string, participants: readonly TccParticipant<I>[]): TccWorkflow<I> {
  if (!NAME.test(name)) throw new RangeError(`tcc workflow name '${name}' is not a valid name`);
  if (participants.length === 0) throw new RangeError(`tcc workflow '${name}' has no participants`);
  const seen = new Set<string>();
  for (const p of participants) {
    if (!NAME.test(p.name)) throw new RangeError(`branch name '${p.name}' of '${name}' is not valid`);
    if (seen.has(p.name)) throw new RangeError(`tcc workflow '${name}' names branch '${p.name}' twice`);
    seen.add(p.name);
  }
  return Object.freeze({ name, participants: Object.freeze([...participants]) });
}

export type TccResult =
  | {
      gtid: string;
      outcome: 'confirmed';
      /** False when a Confirm kept failing and recovery goes on confirming; the outcome is final. */
      settled: boolean;
    }
  | {
      gtid: string;
      outcome: 'cancelled';
      /** The branch whose Try failed, and its reason as reported (a business refusal or a time-out). */
      failedBranch: string;
      reason: string;
      /** False when a Cancel kept failing and recovery goes on cancelling; the outcome is final. */
      settled: boolean;
    };

/**
 * The coordinator could not reach a decision or a settled outcome (its log failed, or another replica
 * took the transaction over). It is in the log and recovery finishes it; assume no outcome.
 */
export class TccUnfinishedError extends Error {
  constructor(
    readonly gtid: string,
    override readonly cause?: unknown,
  ) {
    super(`tcc transaction ${gtid} was left unfinished; recovery will settle it`);
  }
}
