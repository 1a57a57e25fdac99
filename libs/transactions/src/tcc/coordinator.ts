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
import { TccLease, TccLeaseLostError, TccLog, TccRecord } from '../ports/tcc.ports';
import { TccParticipant, TccResult, TccUnfinishedError, TccWorkflow } from './types';

export interface TccCoordinatorOptions {
  /** Names this coordinator (a replica id) in leases; never patient data. */
  name: string;
  /**
   * How long a transaction stays with this coordinator after each log write; must exceed
   * `callTimeoutMs + retryMaxMs`, so a live coordinator always writes again before it runs out.
   */
  leaseMs: number;
  /** A Try, Confirm or Cancel without an answer by then counts as failed (a Try's failure cancels). */
  callTimeoutMs: number;
  /** Rounds of Confirm (or Cancel) calls in one run before the transaction is given back to recovery. */
  phaseTwoAttempts: number;
  /** Back-off between rounds: exponential with full jitter, capped. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long a transaction given back stays unclaimed: 1×, 2×, 4×… this base, up to the max. */
  recoveryRetryBaseMs: number;
  recoveryRetryMaxMs: number;
  /** Unfinished transactions claimed per recovery sweep. */
  recoveryBatch: number;
  /** Announces protocol instants (fault injection); nothing by default. */
  points: ProtocolPoints;
}

export const defaultTccOptions: Omit<TccCoordinatorOptions, 'name'> = {
  leaseMs: 30_000,
  callTimeoutMs: 10_000,
  phaseTwoAttempts: 5,
  retryBaseMs: 100,
  retryMaxMs: 5_000,
  recoveryRetryBaseMs: 1_000,
  recoveryRetryMaxMs: 30_000,
  recoveryBatch: 20,
  points: noProtocolPoints,
};

/** Throws on options that cannot keep the style's promises. */
export function assertTccOptions(options: TccCoordinatorOptions): void {
  assertPositiveIntegers(options, [
    'callTimeoutMs',
    'phaseTwoAttempts',
    'retryBaseMs',
    'retryMaxMs',
    'recoveryRetryBaseMs',
    'recoveryRetryMaxMs',
    'recoveryBatch',
  ]);
  if (!Number.isInteger(options.leaseMs) || options.leaseMs <= options.callTimeoutMs + options.retryMaxMs)
    throw new RangeError('leaseMs must be an integer greater than callTimeoutMs + retryMaxMs');
}

/** One transaction being driven by this coordinator, under its lease. */
interface Run {
  gtid: string;
  lease: TccLease;
  workflow: TccWorkflow<unknown>;
  input: unknown;
  retries: number;
  started: number;
}

type PhaseTwo = 'confirm' | 'cancel';

/**
 * TCC coordinator. Framework-free: it talks to its log through the `TccLog` port and to the
 * participants through the workflow's Try, Confirm and Cancel, each of which a participant runs behind
 * its `TccBarrier`.
 *
 * Invariants: the transaction is logged `trying` before any Try is sent; the decision is durable, fenced
 * by the lease and made once (from `trying` only) before any Confirm or Cancel is sent; it is `confirming`
 * only when every Try answered success, and then only Confirms are sent, else only Cancels, to every
 * branch (a Try may have landed unanswered, or may still land: the barrier refuses it after the Cancel).
 * Confirms and Cancels are retried until every branch answered; a coordinator that dies or gives up
 * leaves the transaction to recovery, which confirms a `confirming` one, and cancels a `trying` or
 * `cancelling` one.
 */
export class TccCoordinator {
  private readonly options: TccCoordinatorOptions;
  private readonly workflows = new Map<string, TccWorkflow<unknown>>();

  constructor(
    private readonly log: TccLog,
    workflows: readonly TccWorkflow<unknown>[],
    options: Partial<TccCoordinatorOptions> & { name: string },
    private readonly observer: TransactionObserver = silentObserver,
    private readonly logger: ProtocolLogger = silentLogger,
    private readonly clock: Clock = systemClock,
  ) {
    this.options = { ...defaultTccOptions, ...options };
    assertTccOptions(this.options);
    for (const workflow of workflows) {
      if (this.workflows.has(workflow.name))
        throw new RangeError(`tcc workflow '${workflow.name}' is registered twice`);
      this.workflows.set(workflow.name, workflow);
    }
  }

  /**
   * Runs a new global transaction of `workflow` (registered with this coordinator) to its outcome: every
   * Try, then Confirm of every branch if all succeeded, else Cancel of every branch. Throws
   * TccUnfinishedError when it could not decide or lost the transaction; the input must be JSON.
   */
  async run<I>(
    workflow: TccWorkflow<I>,
    input: I,
    options: { correlationId?: string } = {},
  ): Promise<TccResult> {
    if (this.workflows.get(workflow.name) !== workflow)
      throw new RangeError(`tcc workflow '${workflow.name}' is not registered with this coordinator`);
    const stored = asJson(input);
    const gtid = newGtid();
    const started = this.clock.now();
    this.observer.started('tcc', gtid);
    let lease: TccLease;
    try {
      lease = await this.log.begin(
        {
          gtid,
          workflow: workflow.name,
          input: stored,
          branches: workflow.participants.map((p) => p.name),
          ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
        },
        this.options.name,
        this.options.leaseMs,
      );
    } catch (error) {
      throw this.unfinished(gtid, error);
    }
    const run: Run = { gtid, lease, workflow, input: stored, retries: 0, started };
    this.logger.info('tcc started', { gtid, workflow: workflow.name });
    try {
      this.options.points('tcc.coordinator.before-try', gtid);
      const tries = await Promise.allSettled(
        run.workflow.participants.map((p) =>
          this.call(
            p,
            'try',
            Promise.resolve().then(() => p.try(run.input, { gtid, branch: p.name })),
          ),
        ),
      );
      const failed = tries.findIndex((t) => t.status === 'rejected');
      if (failed === -1) {
        await this.log.decide(lease, 'confirming');
        this.options.points('tcc.coordinator.after-decision', gtid);
        return { gtid, outcome: 'confirmed', settled: await this.phaseTwo(run, 'confirm') };
      }
      const branch = run.workflow.participants[failed].name;
      const reason = `${branch}: ${errorMessage((tries[failed] as PromiseRejectedResult).reason)}`;
      this.logger.warn('tcc try failed; cancelling', { gtid, branch, reason });
      await this.log.decide(lease, 'cancelling', reason);
      this.options.points('tcc.coordinator.after-decision', gtid);
      const settled = await this.phaseTwo(run, 'cancel');
      return { gtid, outcome: 'cancelled', failedBranch: branch, reason, settled };
    } catch (error) {
      throw this.unfinished(gtid, error);
    }
  }

  /**
   * One recovery sweep: claims unfinished transactions whose lease ran out (their coordinator died, or
   * gave them back) and settles each: confirms a `confirming` one; cancels a `trying` one (deciding
   * `cancelling` first: its Tries' answers are lost) or a `cancelling` one. Returns how many it settled.
   */
  async recover(): Promise<number> {
    const { name, recoveryBatch, leaseMs } = this.options;
    const claimed = await this.log.claimUnfinished(name, recoveryBatch, leaseMs);
    return recoverSideBySide(
      claimed.map((c) => ({ gtid: c.tcc.gtid, ...c })),
      ({ lease, tcc }) => this.resume(lease, tcc),
      async ({ lease, tcc }, error) => {
        await this.log.release(lease, error, this.retryAfter(tcc.retries));
      },
      this.logger,
      'tcc',
    );
  }

  private async resume(lease: TccLease, tcc: TccRecord): Promise<boolean> {
    const { gtid } = tcc;
    const workflow = this.workflows.get(tcc.workflow);
    if (!workflow || workflow.participants.map((p) => p.name).join(',') !== tcc.branches.join(',')) {
      const error = workflow
        ? `tcc workflow '${tcc.workflow}' has other branches here than in the log`
        : `tcc workflow '${tcc.workflow}' is not registered here`;
      this.logger.error('tcc cannot be resumed', { gtid, workflow: tcc.workflow, error });
      await this.log.release(lease, error, this.options.recoveryRetryMaxMs);
      return false;
    }
    const run: Run = {
      gtid,
      lease,
      workflow,
      input: tcc.input,
      retries: tcc.retries,
      started: tcc.createdAt.getTime(),
    };
    if (tcc.state === 'trying') {
      await this.log.decide(lease, 'cancelling', 'the coordinator stopped before deciding');
      this.options.points('tcc.coordinator.after-decision', gtid);
    }
    const op: PhaseTwo = tcc.state === 'confirming' ? 'confirm' : 'cancel';
    this.observer.recovered('tcc', gtid, op);
    this.logger.info('tcc recovery settles it', { gtid, op });
    return this.phaseTwo(run, op);
  }

  /**
   * Sends `op` to every branch, rounds after rounds with back-off until each answered success; after
   * `phaseTwoAttempts` rounds, gives the transaction back to recovery, which goes on later. True when
   * every branch answered (the transaction is finished in the log).
   */
  private async phaseTwo(run: Run, op: PhaseTwo): Promise<boolean> {
    const { gtid, lease } = run;
    let pending = [...run.workflow.participants];
    let lastError = '';
    let announced = false;
    for (let round = 1; ; round += 1) {
      await this.log.renew(lease);
      const answers = await Promise.allSettled(
        pending.map(async (p) => {
          await this.call(
            p,
            op,
            Promise.resolve().then(() => p[op](run.input, { gtid, branch: p.name })),
          );
          if (!announced) {
            announced = true;
            this.options.points('tcc.coordinator.mid-phase-two', gtid);
          }
        }),
      );
      const failures = answers.flatMap((a, i) => (a.status === 'rejected' ? [{ p: pending[i], a }] : []));
      for (const { p, a } of failures) {
        lastError = `${op} of ${p.name}: ${errorMessage(a.reason)}`;
        this.observer.retried('tcc', gtid, `${op} ${p.name}`, lastError);
      }
      pending = failures.map((f) => f.p);
      if (pending.length === 0) break;
      if (round >= this.options.phaseTwoAttempts) {
        this.logger.warn('tcc phase two left to recovery', { gtid, op, error: lastError });
        await this.log.release(lease, lastError, this.retryAfter(run.retries));
        return false;
      }
      await this.clock.sleep(backoffDelay(round, this.options.retryBaseMs, this.options.retryMaxMs));
    }
    await this.log.finish(lease);
    const outcome = op === 'confirm' ? 'committed' : 'aborted';
    this.observer.finished('tcc', gtid, outcome, this.clock.now() - run.started);
    this.logger.info(op === 'confirm' ? 'tcc confirmed' : 'tcc cancelled', {
      gtid,
      workflow: run.workflow.name,
    });
    return true;
  }

  private call<T>(participant: TccParticipant<unknown>, what: string, promise: Promise<T>): Promise<T> {
    return withTimeout(promise, this.options.callTimeoutMs, `${what} of ${participant.name}`, this.clock);
  }

  private retryAfter(retries: number): number {
    return recoveryRetryDelay(retries, this.options.recoveryRetryBaseMs, this.options.recoveryRetryMaxMs);
  }

  private unfinished(gtid: string, error: unknown): TccUnfinishedError {
    const fields = { gtid, error: errorMessage(error) };
    if (error instanceof TccLeaseLostError) this.logger.warn('tcc taken over by another coordinator', fields);
    else this.logger.warn('tcc left to recovery', fields);
    return new TccUnfinishedError(gtid, error);
  }
}
