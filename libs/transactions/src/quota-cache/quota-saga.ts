import { errorMessage } from '../core/observer';
import { noProtocolPoints, ProtocolPoints } from '../core/protocol-points';
import {
  QuotaReservation,
  QuotaSagaLease,
  QuotaSagaLog,
  QuotaSagaRecord,
  QuotaSagaStep,
} from '../ports/quota-cache.ports';

/** A participant's quota routes, as the orchestrator calls them. Transient failures throw. */
export interface QuotaParticipant {
  reserve(request: {
    key: string;
    gtid: string;
    resource: string;
    units: number;
  }): Promise<{ outcome: 'reserved'; epoch: string } | { outcome: 'refused'; reason: string }>;
  hold(request: { key: string; resource: string }): Promise<'held' | 'refused'>;
  release(request: { key: string; resource: string }): Promise<void>;
}

/** A completed saga's reservation, with the participant that holds it. */
export type CompletedQuotaReservation = QuotaReservation & { participant: string };

/** The caller's writes, each in the log's transaction: its draft, its completion, its revocation. */
export interface QuotaSagaHooks<S> {
  started(tx: S, saga: QuotaSagaRecord): Promise<void>;
  /** The completion: the caller's own records and, through its outbox, the completion events. */
  completed(tx: S, saga: QuotaSagaRecord, reservations: CompletedQuotaReservation[]): Promise<void>;
  aborted(tx: S, saga: QuotaSagaRecord, reason: string): Promise<void>;
}

export interface QuotaSagaOptions {
  /** This orchestrator replica, as leases name it. */
  name: string;
  /** How long a running saga is this orchestrator's before recovery may take it (default 30 s). */
  leaseMs?: number;
  /** Attempts of a reservation or hold that fails transiently (default 3), with back-off from `retryMs`. */
  attempts?: number;
  retryMs?: number;
  points?: ProtocolPoints;
}

export type QuotaSagaResult =
  | { gtid: string; outcome: 'completed'; reservations: CompletedQuotaReservation[] }
  | { gtid: string; outcome: 'aborted'; failedStep?: string; reason: string };

/** The saga was left running (its log failed or another replica took it): recovery settles it. */
export class QuotaSagaUnfinishedError extends Error {
  constructor(
    readonly gtid: string,
    override readonly cause?: unknown,
  ) {
    super(`quota saga ${gtid} was left unfinished; recovery will settle it`);
  }
}

const keyOf = (gtid: string, step: QuotaSagaStep) => `${gtid}:${step.step}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Reserved = { step: QuotaSagaStep; epoch: string } | { step: QuotaSagaStep; refused: string };

/**
 * The quota-cached saga's orchestrator (paper 2). Reservations are made in the participants' quota caches
 * side by side, then held (they stop expiring), then the completion commits in one local transaction with
 * the log — the caller's records and the completion events for the participants' commit-sync consumers.
 * Any refusal releases every reservation and aborts. The log is written twice per saga: a crashed
 * orchestrator's reservations expire by themselves, so recovery only releases them early and aborts.
 */
export class QuotaSagaCoordinator<S> {
  private readonly leaseMs: number;
  private readonly attempts: number;
  private readonly retryMs: number;
  private readonly points: ProtocolPoints;

  constructor(
    private readonly log: QuotaSagaLog<S>,
    private readonly participants: Readonly<Record<string, QuotaParticipant>>,
    private readonly hooks: QuotaSagaHooks<S>,
    private readonly options: QuotaSagaOptions,
  ) {
    this.leaseMs = options.leaseMs ?? 30_000;
    this.attempts = options.attempts ?? 3;
    this.retryMs = options.retryMs ?? 50;
    this.points = options.points ?? noProtocolPoints;
  }

  /** Runs one saga to its outcome. `QuotaSagaUnfinishedError` when the log could not record one. */
  async run(saga: Omit<QuotaSagaRecord, 'state' | 'reason'>): Promise<QuotaSagaResult> {
    for (const step of saga.steps)
      if (!this.participants[step.participant])
        throw new RangeError(`quota saga step '${step.step}': unknown participant '${step.participant}'`);
    const record: QuotaSagaRecord = { ...saga, state: 'running' };
    const lease = await this.log.begin(saga, this.options.name, this.leaseMs, (tx) =>
      this.hooks.started(tx, record),
    );
    this.points('quota-saga.coordinator.after-begin', saga.gtid);
    const reserved = await Promise.all(saga.steps.map((step) => this.reserve(saga.gtid, step)));
    const refused = reserved.find((r): r is Extract<Reserved, { refused: string }> => 'refused' in r);
    if (refused) return this.abort(lease, record, refused.refused, refused.step.step);
    this.points('quota-saga.coordinator.after-reserve', saga.gtid);
    const holds = await Promise.all(saga.steps.map((step) => this.hold(saga.gtid, step)));
    const lost = saga.steps.find((_, i) => holds[i] !== 'held');
    if (lost)
      return this.abort(lease, record, 'reservation expired or released before it was held', lost.step);
    this.points('quota-saga.coordinator.after-hold', saga.gtid);
    const reservations = reserved.map((r) => ({
      key: keyOf(saga.gtid, r.step),
      gtid: saga.gtid,
      resource: r.step.resource,
      units: r.step.units,
      epoch: (r as { epoch: string }).epoch,
      participant: r.step.participant,
    }));
    try {
      await this.log.finish(lease, 'completed', undefined, (tx) =>
        this.hooks.completed(tx, record, reservations),
      );
    } catch (error) {
      throw this.unfinished(saga.gtid, error);
    }
    return { gtid: saga.gtid, outcome: 'completed', reservations };
  }

  /**
   * One recovery sweep: every running saga whose lease ran out (its orchestrator died or stalled) has its
   * reservations released and is aborted. Answers how many it settled.
   */
  async recover(limit = 50): Promise<number> {
    const claimed = await this.log.claimUnfinished(this.options.name, limit, this.leaseMs);
    let settled = 0;
    await Promise.all(
      claimed.map(async ({ lease, saga }) => {
        try {
          await this.abort(lease, saga, 'orchestrator stopped before the saga completed');
          settled++;
        } catch {
          // Left to the next sweep (after the new lease runs out).
        }
      }),
    );
    return settled;
  }

  private async abort(
    lease: QuotaSagaLease,
    saga: QuotaSagaRecord,
    reason: string,
    failedStep?: string,
  ): Promise<QuotaSagaResult> {
    // Every reservation released before the saga is aborted: a held one would never expire. A release
    // that keeps failing leaves the saga running, for recovery to release again once the lease runs out.
    const released = await Promise.allSettled(
      saga.steps.map((step) =>
        this.retry(() =>
          this.participants[step.participant].release({
            key: keyOf(saga.gtid, step),
            resource: step.resource,
          }),
        ),
      ),
    );
    const failed = released.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw new QuotaSagaUnfinishedError(saga.gtid, failed.reason);
    try {
      await this.log.finish(lease, 'aborted', reason, (tx) => this.hooks.aborted(tx, saga, reason));
    } catch (error) {
      throw this.unfinished(saga.gtid, error);
    }
    return { gtid: saga.gtid, outcome: 'aborted', reason, ...(failedStep ? { failedStep } : {}) };
  }

  private async reserve(gtid: string, step: QuotaSagaStep): Promise<Reserved> {
    try {
      const answer = await this.retry(() =>
        this.participants[step.participant].reserve({
          key: keyOf(gtid, step),
          gtid,
          resource: step.resource,
          units: step.units,
        }),
      );
      return answer.outcome === 'reserved' ? { step, epoch: answer.epoch } : { step, refused: answer.reason };
    } catch (error) {
      return { step, refused: `${step.participant} did not answer: ${errorMessage(error)}` };
    }
  }

  private hold(gtid: string, step: QuotaSagaStep): Promise<'held' | 'refused'> {
    return this.retry(() =>
      this.participants[step.participant].hold({ key: keyOf(gtid, step), resource: step.resource }),
    ).catch(() => 'refused' as const);
  }

  private async retry<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (attempt >= this.attempts) throw error;
        await sleep(this.retryMs * 2 ** (attempt - 1) * Math.random());
      }
    }
  }

  /**
   * A finish that did not commit. Recovery only ever aborts, so a saga another replica took over ends
   * aborted; with the log unreachable, it is left running for recovery to abort once the lease runs out.
   */
  private unfinished(gtid: string, error: unknown): Error {
    return new QuotaSagaUnfinishedError(gtid, error);
  }
}
