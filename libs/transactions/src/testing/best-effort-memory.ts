import { Clock, systemClock } from '../core/clock';
import { newGtid } from '../core/gtid';
import {
  AttemptFailure,
  AttemptOutcome,
  AttemptRecord,
  ClaimedAttempt,
  ClaimRequest,
  ClaimResult,
  DeadLetteredNotification,
  InvalidCursorError,
  NewNotification,
  Notification,
  NotificationDetail,
  NotificationState,
  NotificationStore,
  ReconciledNotification,
  ReconciliationPage,
  ReplayResult,
} from '../ports/best-effort.ports';
import { MemoryLocks, MemorySession, MemoryTransactionRunner } from './memory-session';

/** A committed notification row, as `tx_notification` holds it (times in clock milliseconds). */
export interface MemoryNotificationRow {
  notification: Notification;
  /** Taken from a sequence at append (so rows commit out of position order, as in PostgreSQL). */
  position: number;
  /** Reconciliation order: numbered by the sequencer once committed. */
  seq?: number;
  state: NotificationState;
  /** Attempts begun over its life. */
  attempts: number;
  /** `attempts` when its current round began (0, or the count at its last replay). */
  roundStart: number;
  replays: number;
  /** Due time; while leased, the lease's end (so an expired lease makes it due again). */
  nextAttemptAt: number;
  lease?: string;
  leaseUntil?: number;
  retryDelayMs?: number;
  lastError?: string;
  deliveredAt?: number;
  deadLetteredAt?: number;
  attemptRecords: AttemptRecord[];
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);
const ABANDONED = 'the lease ran out before the attempt’s outcome was recorded (its dispatcher stopped)';

/**
 * `PostgresNotificationStore` in memory: appends staged in a `MemorySession` and applied at its commit
 * (positions taken at append; the idempotency key locked until the session ends, then unique); claims
 * that lease due rows and begin attempts; fenced retries and dead letters; reconciliation in the order a
 * sequencer numbers committed rows (so one that commits late comes after every cursor handed out before).
 */
export class InMemoryNotificationStore implements NotificationStore<MemorySession> {
  /** Committed rows by notification id. */
  readonly rows = new Map<string, MemoryNotificationRow>();
  private readonly keys = new Set<string>();
  private readonly locks = new MemoryLocks();
  private readonly runner = new MemoryTransactionRunner();
  private position = 0;
  private sequenced = 0;
  private leases = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly clock: Clock = systemClock) {}

  /** A producer's local transaction on this database. */
  transaction<T>(work: (session: MemorySession) => Promise<T>): Promise<T> {
    return this.runner.transaction(work);
  }

  async append(session: MemorySession, items: readonly NewNotification[]): Promise<Notification[]> {
    session.assertOpen();
    const stored: Notification[] = [];
    for (const item of items) {
      const key = item.idempotencyKey ?? `key-${this.position + 1}`;
      await this.locks.acquire(session, `key:${key}`);
      session.assertOpen();
      if (this.keys.has(key) || stored.some((n) => n.idempotencyKey === key))
        throw new Error(`duplicate key value violates unique constraint "tx_notification_key" (${key})`);
      this.position += 1;
      const position = this.position;
      const notification: Notification = {
        id: `notification-${position}`,
        idempotencyKey: key,
        receiver: item.receiver,
        channel: item.channel,
        type: item.type,
        gtid: item.gtid ?? newGtid(),
        payload: item.payload,
        createdAt: new Date(this.clock.now()),
      };
      session.onCommit(() => {
        this.keys.add(key);
        this.rows.set(notification.id, {
          notification,
          position,
          state: 'pending',
          attempts: 0,
          roundStart: 0,
          replays: 0,
          nextAttemptAt: notification.createdAt.getTime(),
          attemptRecords: [],
        });
        this.wake();
      });
      stored.push({ ...notification });
    }
    return stored;
  }

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    await Promise.resolve();
    const now = this.clock.now();
    const due = this.pending(request.channels)
      .filter((row) => row.nextAttemptAt <= now)
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.position - b.position)
      .slice(0, request.limit);
    const attempts: ClaimedAttempt[] = [];
    const deadLettered: ClaimResult['deadLettered'] = [];
    for (const row of due) {
      const previous = row.attemptRecords[row.attemptRecords.length - 1];
      if (row.lease !== undefined && previous && previous.outcome === undefined) {
        Object.assign(previous, { outcome: 'abandoned', finishedAt: new Date(now), error: ABANDONED });
      }
      if (row.attempts - row.roundStart >= request.maxAttempts) {
        const error = `gave up after ${row.attempts - row.roundStart} attempts: the last one never finished`;
        Object.assign(row, { state: 'dead-lettered', deadLetteredAt: now, lastError: error });
        this.release(row);
        deadLettered.push({ id: row.notification.id, channel: row.notification.channel });
        continue;
      }
      this.leases += 1;
      const lease = `lease-${this.leases}`;
      row.attempts += 1;
      Object.assign(row, { lease, leaseUntil: now + request.leaseMs, nextAttemptAt: now + request.leaseMs });
      row.attemptRecords.push({
        number: row.attempts,
        dispatcher: request.dispatcher,
        startedAt: new Date(now),
      });
      attempts.push({
        notification: { ...row.notification },
        number: row.attempts,
        roundNumber: row.attempts - row.roundStart,
        lease,
        leaseUntil: new Date(now + request.leaseMs),
        previousDelayMs: row.retryDelayMs,
      });
    }
    let nextDueInMs: number | undefined;
    if (attempts.length < request.limit) {
      const times = this.pending(request.channels).map((row) => row.nextAttemptAt);
      if (times.length > 0) nextDueInMs = Math.max(0, Math.min(...times) - now);
    }
    return { attempts, deadLettered, nextDueInMs };
  }

  async markDelivered(attempt: ClaimedAttempt): Promise<void> {
    await Promise.resolve();
    const row = this.row(attempt);
    this.finish(row, attempt, 'delivered');
    // Any other attempt still open ends with the delivery (a stopped dispatcher's would stay open for ever).
    for (const other of row.attemptRecords) {
      if (other.number === attempt.number || other.outcome !== undefined) continue;
      Object.assign(other, {
        outcome: 'abandoned',
        finishedAt: new Date(this.clock.now()),
        error: `the notification was delivered by attempt ${attempt.number}`,
      });
    }
    if (row.state === 'delivered') return;
    Object.assign(row, { state: 'delivered', deliveredAt: this.clock.now() });
    this.release(row);
  }

  async scheduleRetry(attempt: ClaimedAttempt, failure: AttemptFailure, delayMs: number): Promise<boolean> {
    await Promise.resolve();
    const row = this.row(attempt);
    const held = row.state === 'pending' && row.lease === attempt.lease;
    const record = this.finish(row, attempt, failure.outcome, failure.error);
    if (!held) return false;
    if (record) record.retryDelayMs = delayMs;
    const now = this.clock.now();
    Object.assign(row, { nextAttemptAt: now + delayMs, retryDelayMs: delayMs, lastError: failure.error });
    this.release(row);
    return true;
  }

  async deadLetter(attempt: ClaimedAttempt, failure: AttemptFailure): Promise<boolean> {
    await Promise.resolve();
    const row = this.row(attempt);
    const held = row.state === 'pending' && row.lease === attempt.lease;
    this.finish(row, attempt, failure.outcome, failure.error);
    if (!held) return false;
    Object.assign(row, {
      state: 'dead-lettered',
      deadLetteredAt: this.clock.now(),
      lastError: failure.error,
    });
    this.release(row);
    return true;
  }

  async deadLetters(limit: number, channel?: string): Promise<DeadLetteredNotification[]> {
    await Promise.resolve();
    return [...this.rows.values()]
      .filter(
        (row) =>
          row.state === 'dead-lettered' && (channel === undefined || row.notification.channel === channel),
      )
      .sort((a, b) => (a.deadLetteredAt ?? 0) - (b.deadLetteredAt ?? 0) || a.position - b.position)
      .slice(0, limit)
      .map((row) => ({ ...this.view(row), deadLetteredAt: new Date(row.deadLetteredAt ?? 0) }));
  }

  async replay(id: string): Promise<ReplayResult> {
    await Promise.resolve();
    const row = this.rows.get(id);
    if (!row) return 'unknown';
    if (row.state !== 'dead-lettered') return 'not-dead-lettered';
    Object.assign(row, {
      state: 'pending',
      roundStart: row.attempts,
      replays: row.replays + 1,
      nextAttemptAt: this.clock.now(),
      retryDelayMs: undefined,
      deadLetteredAt: undefined,
    });
    this.wake();
    return 'replayed';
  }

  async find(id: string): Promise<NotificationDetail | undefined> {
    await Promise.resolve();
    const row = this.rows.get(id);
    if (!row) return undefined;
    const date = (ms: number | undefined): Date | null => (ms === undefined ? null : new Date(ms));
    return {
      ...this.view(row),
      state: row.state,
      nextAttemptAt: row.state === 'pending' ? new Date(row.nextAttemptAt) : null,
      deliveredAt: date(row.deliveredAt),
      deadLetteredAt: date(row.deadLetteredAt),
      replays: row.replays,
      attemptRecords: row.attemptRecords.map((r) => ({ ...r })),
    };
  }

  async since(receiver: string, from: string | Date | undefined, limit: number): Promise<ReconciliationPage> {
    await Promise.resolve();
    let after = 0;
    if (typeof from === 'string') {
      const match = /^m(\d{1,15})$/.exec(from);
      if (!match) throw new InvalidCursorError(from);
      after = Number(match[1]);
    }
    // The sequencer: committed rows not numbered yet get the next numbers, oldest position first.
    for (const row of [...this.rows.values()].sort((a, b) => a.position - b.position))
      if (row.seq === undefined) row.seq = ++this.sequenced;
    const notBefore = from instanceof Date ? from.getTime() : -Infinity;
    const rows = [...this.rows.values()]
      .filter(
        (row) =>
          row.notification.receiver === receiver &&
          (row.seq ?? 0) > after &&
          row.notification.createdAt.getTime() >= notBefore,
      )
      .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))
      .slice(0, limit);
    const last = rows[rows.length - 1];
    const next = last ? (last.seq ?? 0) : Math.max(after, this.sequenced);
    return {
      notifications: rows.map((row): ReconciledNotification => ({
        ...row.notification,
        state: row.state,
        attempts: row.attempts,
        deliveredAt: row.deliveredAt === undefined ? null : new Date(row.deliveredAt),
      })),
      next: `m${next}`,
    };
  }

  async waitForWork(timeoutMs: number): Promise<void> {
    await Promise.race([
      this.clock.sleep(timeoutMs),
      new Promise<void>((resolve) => this.waiters.push(resolve)),
    ]);
  }

  /** Rolls back every open producer transaction (the database went away under them). */
  abortAll(): void {
    this.runner.abortAll();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private pending(channels: readonly string[]): MemoryNotificationRow[] {
    return [...this.rows.values()].filter(
      (row) => row.state === 'pending' && channels.includes(row.notification.channel),
    );
  }

  private row(attempt: ClaimedAttempt): MemoryNotificationRow {
    const row = this.rows.get(attempt.notification.id);
    if (!row) throw new Error(`no notification ${attempt.notification.id}`);
    return row;
  }

  /** Ends the attempt's record with its outcome (also one found abandoned meanwhile: this is what happened). */
  private finish(
    row: MemoryNotificationRow,
    attempt: ClaimedAttempt,
    outcome: AttemptOutcome,
    error?: string,
  ): AttemptRecord | undefined {
    const record = row.attemptRecords.find((r) => r.number === attempt.number);
    if (!record || (record.outcome !== undefined && record.outcome !== 'abandoned')) return undefined;
    Object.assign(record, { outcome, error, finishedAt: new Date(this.clock.now()) });
    return record;
  }

  private release(row: MemoryNotificationRow): void {
    row.lease = undefined;
    row.leaseUntil = undefined;
  }

  private view(row: MemoryNotificationRow): Omit<DeadLetteredNotification, 'deadLetteredAt'> {
    const { notification: n } = row;
    return {
      id: n.id,
      idempotencyKey: n.idempotencyKey,
      receiver: n.receiver,
      channel: n.channel,
      type: n.type,
      gtid: n.gtid,
      attempts: row.attempts,
      lastError: row.lastError ?? null,
      createdAt: n.createdAt,
    };
  }
}

/** A process using the store: dead once crashed; `stalled` holds its requests back (a slow network, a pause). */
export interface StoreUser {
  readonly alive: boolean;
  readonly stalled?: Promise<void>;
}

/**
 * The store as one dispatcher incarnation sees it: while `owner` is stalled its requests wait (and reach
 * the store late); once it is dead, no call answers (a crash).
 */
export function ownedNotificationStore<S>(
  store: NotificationStore<S>,
  owner: StoreUser,
): NotificationStore<S> {
  const guard =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      while (owner.stalled && owner.alive) await owner.stalled;
      if (!owner.alive) return never();
      const result = await call(...args);
      // The write took effect, but a process that died meanwhile never hears back.
      return owner.alive ? result : never();
    };
  return {
    append: guard((session: S, items: readonly NewNotification[]) => store.append(session, items)),
    claim: guard((request: ClaimRequest) => store.claim(request)),
    markDelivered: guard((attempt: ClaimedAttempt) => store.markDelivered(attempt)),
    scheduleRetry: guard((attempt: ClaimedAttempt, failure: AttemptFailure, delayMs: number) =>
      store.scheduleRetry(attempt, failure, delayMs),
    ),
    deadLetter: guard((attempt: ClaimedAttempt, failure: AttemptFailure) =>
      store.deadLetter(attempt, failure),
    ),
    deadLetters: guard((limit: number, channel?: string) => store.deadLetters(limit, channel)),
    replay: guard((id: string) => store.replay(id)),
    find: guard((id: string) => store.find(id)),
    since: guard((receiver: string, from: string | Date | undefined, limit: number) =>
      store.since(receiver, from, limit),
    ),
    waitForWork: guard((timeoutMs: number) => store.waitForWork(timeoutMs)),
  };
}
