// The parts of a simulated two-phase-commit deployment (see two-phase-world.ts): the transactions a world
// runs and what their callers learn, the branch work, the nodes that crash and restart, and the world's
// default options.
import {
  defaultCoordinatorOptions,
  TwoPhaseCoordinator,
  TwoPhaseCoordinatorOptions,
  TwoPhaseRequest,
} from '../two-phase-commit/coordinator';
import {
  BranchWork,
  defaultParticipantOptions,
  TwoPhaseParticipant,
  TwoPhaseParticipantOptions,
} from '../two-phase-commit/participant';
import { InMemoryCoordinatorLog } from './in-memory-coordinator-log';
import { InMemoryPreparedResource } from './in-memory-prepared-resource';
import { MemoryTx } from './memory-database';
import { Incarnation } from './simulated-network';

export type SimulatedVote = 'yes' | 'no';

/** Payload the simulated coordinator sends each branch: how that participant's business step will go. */
export interface SimulatedBranchPayload {
  vote: SimulatedVote;
}

/** One global transaction to run in a world. */
export interface SimulatedTransaction {
  gtid: string;
  branches: { participant: string; vote: SimulatedVote }[];
  /** The coordinator's own work: none, one row committed with the decision, or a failure. Default none. */
  local?: 'none' | 'write' | 'throw';
}

/**
 * What the caller of `execute` learned: `committed` / `aborted` (TransactionAbortedError) / `failed`
 * (another error), `abandoned` when its coordinator replica crashed first, `refused` when no replica was up.
 */
export type ExecutionStatus = 'pending' | 'committed' | 'aborted' | 'failed' | 'abandoned' | 'refused';

export interface Execution {
  readonly tx: SimulatedTransaction;
  readonly replica: string;
  status: ExecutionStatus;
  acknowledged?: boolean;
  error?: unknown;
}

/** A recovery sweep started on one node (`TwoPhaseCoordinator.recover` or `TwoPhaseParticipant.recover`). */
export interface Sweep {
  readonly node: string;
  status: 'running' | 'done' | 'failed' | 'abandoned';
  resolved?: number;
  error?: unknown;
}

/** The error a simulated coordinator's `local: 'throw'` work fails with. */
export class LocalWorkError extends Error {
  constructor(readonly gtid: string) {
    super(`local work of ${gtid} failed`);
  }
}

function isPayload(value: unknown): value is SimulatedBranchPayload {
  if (typeof value !== 'object' || value === null) return false;
  const vote: unknown = (value as Record<string, unknown>).vote;
  return vote === 'yes' || vote === 'no';
}

/** Default branch work: `vote: 'no'` fails the business step; otherwise writes one row keyed by the gtid. */
export const simulatedBranchWork: BranchWork<MemoryTx> = (tx, payload, gtid) => {
  if (!isPayload(payload)) return Promise.reject(new Error('invalid branch payload'));
  if (payload.vote === 'no') return Promise.reject(new Error('business rule refused the branch'));
  tx.put(gtid, { gtid });
  return Promise.resolve();
};

/** The request `submit` hands the coordinator for a simulated transaction. */
export function simulatedRequest(tx: SimulatedTransaction): TwoPhaseRequest<MemoryTx> {
  const local = tx.local ?? 'none';
  return {
    gtid: tx.gtid,
    branches: tx.branches.map((b) => ({ participant: b.participant, payload: { vote: b.vote } })),
    ...(local === 'write'
      ? {
          local: (t: MemoryTx) => {
            t.put(tx.gtid, 'coordinator row');
            return Promise.resolve();
          },
        }
      : local === 'throw'
        ? { local: () => Promise.reject(new LocalWorkError(tx.gtid)) }
        : {}),
  };
}

/** One node of the world: boots a fresh runtime on each (re)start; everything not durable dies on crash. */
export class SimulatedNode<Runtime> {
  up = false;
  incarnation: Incarnation;
  private runtime?: Runtime;

  constructor(
    readonly name: string,
    private readonly boot: (incarnation: Incarnation) => Runtime,
  ) {
    this.incarnation = { node: name, epoch: -1, alive: false };
  }

  /** The running incarnation's objects; throws while the node is down. */
  get live(): Runtime {
    if (!this.up || this.runtime === undefined) throw new Error(`${this.name} is down`);
    return this.runtime;
  }

  start(): void {
    if (this.up) return;
    this.incarnation = { node: this.name, epoch: this.incarnation.epoch + 1, alive: true };
    this.runtime = this.boot(this.incarnation);
    this.up = true;
  }

  stop(): Incarnation {
    const dead = this.incarnation;
    dead.alive = false;
    this.up = false;
    this.runtime = undefined;
    return dead;
  }
}

export interface CoordinatorRuntime {
  coordinator: TwoPhaseCoordinator<MemoryTx>;
  log: InMemoryCoordinatorLog;
}

export interface ParticipantRuntime {
  participant: TwoPhaseParticipant<MemoryTx>;
  resource: InMemoryPreparedResource;
}

export interface TwoPhaseWorldOptions {
  /** Participant count (named p1, p2…) or names. Default 3. */
  participants?: number | string[];
  /** Service name of the coordinator, as participants address it. Default 'emr'. */
  coordinatorName?: string;
  /** Replicas of the coordinating service sharing one log. Default 1 (node named like the service). */
  coordinatorReplicas?: number;
  coordinator?: Partial<Omit<TwoPhaseCoordinatorOptions, 'name'>>;
  participant?: Partial<TwoPhaseParticipantOptions>;
  /** The participant-side HTTP client's time-out for outcome inquiries. Default 1 s. */
  clientTimeoutMs?: number;
  /** Lease a COMMIT decision takes for the deciding replica's phase two. Default: the recovery lease. */
  decisionLeaseMs?: number;
  /** Every durable write is its own schedulable step (crash points between any two). Default true. */
  scheduledStorage?: boolean;
  /** Participants' business step. Default `simulatedBranchWork`. */
  work?: BranchWork<MemoryTx>;
  startTime?: number;
}

/** Coordinator time-outs used by a world unless overridden: short, so schedules stay small. */
export const worldCoordinatorDefaults: Omit<TwoPhaseCoordinatorOptions, 'name'> = {
  ...defaultCoordinatorOptions,
  voteTimeoutMs: 1_000,
  callTimeoutMs: 1_000,
  inlineCommitAttempts: 2,
  retryBaseMs: 50,
  retryMaxMs: 400,
  recoveryLeaseMs: 5_000,
};

export const worldParticipantDefaults: TwoPhaseParticipantOptions = {
  ...defaultParticipantOptions,
  inDoubtAfterMs: 3_000,
};
