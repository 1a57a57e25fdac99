import { randomUUID } from 'node:crypto';
import { Database, hotStatement, Session } from '@hospital/platform';
import { newGtid } from '../../core/gtid';
import {
  AttemptFailure,
  AttemptOutcome,
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
  ReconciliationPage,
  ReplayResult,
} from '../../ports/best-effort.ports';
import { PgWakeups } from './pg-wakeups';

/** The LISTEN/NOTIFY channel dispatchers wait on. */
export const NOTIFICATION_CHANNEL = 'tx_notification';

const APPEND = hotStatement(
  `INSERT INTO tx_notification (id, idempotency_key, receiver, channel, type, gtid, payload)
   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[])
   RETURNING id, created_at`,
);

/** Due (or lease run out) notifications of the dispatcher's channels that no other claim is taking. */
const DUE = `SELECT id, attempts, round_start, lease_token IS NOT NULL AS leased
    FROM tx_notification
   WHERE state = 'pending' AND next_attempt_at <= clock_timestamp() AND channel = ANY($1)
   ORDER BY next_attempt_at
   LIMIT $2
   FOR UPDATE SKIP LOCKED`;

const ABANDON = `UPDATE tx_notification_attempt a
     SET outcome = 'abandoned', finished_at = clock_timestamp(), error = $3
    FROM unnest($1::text[], $2::int[]) AS u(id, attempt)
   WHERE a.notification_id = u.id AND a.attempt = u.attempt AND a.outcome IS NULL`;

const EXHAUST = `UPDATE tx_notification
     SET state = 'dead-lettered', dead_lettered_at = clock_timestamp(), next_attempt_at = NULL,
         lease_token = NULL, lease_owner = NULL, lease_until = NULL,
         last_error = 'gave up after ' || (attempts - round_start) || ' attempts: the last one never finished'
   WHERE id = ANY($1)
  RETURNING id, channel`;

/** Leases the notifications and begins an attempt on each, in one statement. */
const LEASE = `WITH leased AS (
       UPDATE tx_notification
          SET attempts = attempts + 1, lease_token = $2, lease_owner = $3,
              lease_until = clock_timestamp() + make_interval(secs => $4::float8 / 1000),
              next_attempt_at = clock_timestamp() + make_interval(secs => $4::float8 / 1000)
        WHERE id = ANY($1)
       RETURNING id, idempotency_key, receiver, channel, type, gtid, payload, created_at, attempts, round_start,
                 retry_delay_ms, lease_until),
     started AS (
       INSERT INTO tx_notification_attempt (notification_id, attempt, dispatcher, started_at)
       SELECT id, attempts, $3, clock_timestamp() FROM leased)
   SELECT * FROM leased`;

const NEXT_DUE = `SELECT (extract(epoch FROM min(next_attempt_at) - clock_timestamp()) * 1000)::float8 AS ms
    FROM tx_notification WHERE state = 'pending' AND channel = ANY($1)`;

/** Ends an attempt's record (also one a later claim found abandoned: this is what happened). */
const FINISH_ATTEMPT = (outcome: string, error: string, delay: string): string =>
  `UPDATE tx_notification_attempt
      SET outcome = ${outcome}, error = ${error}, finished_at = clock_timestamp(), retry_delay_ms = ${delay}
    WHERE notification_id = $1 AND attempt = $2 AND (outcome IS NULL OR outcome = 'abandoned')`;

/**
 * A delivery ends the notification, and with it any other attempt still open: a later claim's attempt
 * whose dispatcher stopped would otherwise stay open for ever, since nothing claims a delivered
 * notification again. Marked abandoned; a dispatcher that is still running records its own outcome over it.
 */
const MARK_DELIVERED = hotStatement(
  `WITH n AS (
       UPDATE tx_notification
          SET state = 'delivered', delivered_at = clock_timestamp(), next_attempt_at = NULL, last_error = NULL,
              lease_token = NULL, lease_owner = NULL, lease_until = NULL
        WHERE id = $1 AND state <> 'delivered'),
     others AS (
       UPDATE tx_notification_attempt
          SET outcome = 'abandoned', finished_at = clock_timestamp(),
              error = 'the notification was delivered by attempt ' || $2::int
        WHERE notification_id = $1 AND attempt <> $2 AND outcome IS NULL)
   ${FINISH_ATTEMPT(`'delivered'`, 'NULL', 'NULL')}`,
);

const SCHEDULE_RETRY = hotStatement(
  `WITH n AS (
       UPDATE tx_notification
          SET next_attempt_at = clock_timestamp() + make_interval(secs => $5::int / 1000.0),
              retry_delay_ms = $5::int, last_error = $4, lease_token = NULL, lease_owner = NULL, lease_until = NULL
        WHERE id = $1 AND state = 'pending' AND lease_token = $6
       RETURNING id),
     a AS (${FINISH_ATTEMPT('$3', '$4', 'CASE WHEN EXISTS (SELECT 1 FROM n) THEN $5::int END')})
   SELECT count(*)::int AS held FROM n`,
);

const DEAD_LETTER = hotStatement(
  `WITH n AS (
       UPDATE tx_notification
          SET state = 'dead-lettered', dead_lettered_at = clock_timestamp(), next_attempt_at = NULL,
              last_error = $4, lease_token = NULL, lease_owner = NULL, lease_until = NULL
        WHERE id = $1 AND state = 'pending' AND lease_token = $5
       RETURNING id),
     a AS (${FINISH_ATTEMPT('$3', '$4', 'NULL')})
   SELECT count(*)::int AS held FROM n`,
);

/**
 * Numbers committed notifications for reconciliation, oldest position first. One sequencer at a time (a
 * transaction-scoped advisory lock): its numbers all come after those of every sequencer that committed
 * before it, so a reader never sees a number while a smaller one is still to be handed out.
 */
const SEQUENCE = `WITH todo AS MATERIALIZED (
       SELECT position FROM tx_notification WHERE seq IS NULL ORDER BY position LIMIT $1 FOR UPDATE SKIP LOCKED),
     numbered AS MATERIALIZED (
       -- Volatile outputs are computed after the sort: numbers follow positions.
       SELECT position, nextval('tx_notification_seq') AS seq FROM todo ORDER BY position)
   UPDATE tx_notification n SET seq = numbered.seq FROM numbered WHERE n.position = numbered.position
   RETURNING 1`;

const SINCE = `SELECT id, idempotency_key, receiver, channel, type, gtid, payload, created_at, state, attempts,
         delivered_at, seq
    FROM tx_notification
   WHERE receiver = $1 AND seq > $2 AND created_at >= $3
   ORDER BY seq
   LIMIT $4`;

const CURSOR = /^s(\d{1,18})$/;

interface NotificationRow {
  id: string;
  idempotency_key: string;
  receiver: string;
  channel: string;
  type: string;
  gtid: string;
  payload: unknown;
  created_at: Date;
}

interface StateRow extends NotificationRow {
  state: NotificationState;
  attempts: number;
  last_error: string | null;
  delivered_at: Date | null;
  dead_lettered_at: Date | null;
}

/** Pending, dead-lettered and the oldest pending notification's age, for `/metrics` and `/api`. */
export interface NotificationBacklog {
  pending: number;
  deadLettered: number;
  oldestPendingAgeMs: number;
}

const toNotification = (row: NotificationRow): Notification => ({
  id: row.id,
  idempotencyKey: row.idempotency_key,
  receiver: row.receiver,
  channel: row.channel,
  type: row.type,
  gtid: row.gtid,
  payload: row.payload,
  createdAt: row.created_at,
});

const operatorView = (row: StateRow): Omit<DeadLetteredNotification, 'deadLetteredAt'> => ({
  id: row.id,
  idempotencyKey: row.idempotency_key,
  receiver: row.receiver,
  channel: row.channel,
  type: row.type,
  gtid: row.gtid,
  attempts: row.attempts,
  lastError: row.last_error,
  createdAt: row.created_at,
});

/**
 * The notification log in the service's PostgreSQL database. `append` runs in the caller's transaction.
 * A claim is a short transaction: it locks due rows `FOR UPDATE SKIP LOCKED` (so concurrent claims never
 * take the same row), leases them to the dispatcher with a fresh token until `leaseMs` from now, and
 * records a new attempt on each; delivery then happens outside any transaction. A retry or dead letter is
 * applied only under the claim's token (fencing a dispatcher whose lease ran out), a delivery always.
 */
export class PostgresNotificationStore implements NotificationStore<Session> {
  private readonly wakeups: PgWakeups;

  constructor(private readonly db: Database) {
    this.wakeups = new PgWakeups(db, NOTIFICATION_CHANNEL, 'notification-dispatcher');
  }

  async append(session: Session, items: readonly NewNotification[]): Promise<Notification[]> {
    if (items.length === 0) return [];
    const notifications = items.map((item) => ({
      id: randomUUID(),
      idempotencyKey: item.idempotencyKey ?? randomUUID(),
      receiver: item.receiver,
      channel: item.channel,
      type: item.type,
      gtid: item.gtid ?? newGtid(),
      payload: item.payload,
    }));
    const rows = await session.query<{ id: string; created_at: Date }>(APPEND, [
      notifications.map((n) => n.id),
      notifications.map((n) => n.idempotencyKey),
      notifications.map((n) => n.receiver),
      notifications.map((n) => n.channel),
      notifications.map((n) => n.type),
      notifications.map((n) => n.gtid),
      notifications.map((n) => JSON.stringify(n.payload ?? null)),
    ]);
    const createdAt = new Map(rows.map((row) => [row.id, row.created_at]));
    return notifications.map((n) => ({ ...n, createdAt: createdAt.get(n.id) ?? new Date() }));
  }

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    const { channels, limit, leaseMs, maxAttempts, dispatcher } = request;
    return this.db.transaction(async (tx) => {
      const due = await tx.query<{ id: string; attempts: number; round_start: number; leased: boolean }>(
        DUE,
        [channels, limit],
      );
      const abandoned = due.filter((row) => row.leased);
      if (abandoned.length > 0)
        await tx.query(ABANDON, [
          abandoned.map((row) => row.id),
          abandoned.map((row) => row.attempts),
          'the lease ran out before the attempt’s outcome was recorded (its dispatcher stopped)',
        ]);
      const exhausted = due
        .filter((row) => row.attempts - row.round_start >= maxAttempts)
        .map((row) => row.id);
      const deadLettered =
        exhausted.length === 0 ? [] : await tx.query<{ id: string; channel: string }>(EXHAUST, [exhausted]);
      const ids = due.filter((row) => row.attempts - row.round_start < maxAttempts).map((row) => row.id);
      const lease = randomUUID();
      const leased =
        ids.length === 0
          ? []
          : await tx.query<
              NotificationRow & {
                attempts: number;
                round_start: number;
                retry_delay_ms: number | null;
                lease_until: Date;
              }
            >(LEASE, [ids, lease, dispatcher, leaseMs]);
      let nextDueInMs: number | undefined;
      if (leased.length < limit) {
        const [next] = await tx.query<{ ms: number | null }>(NEXT_DUE, [channels]);
        if (next?.ms !== null && next?.ms !== undefined) nextDueInMs = Math.max(0, Math.ceil(next.ms));
      }
      return {
        attempts: leased.map((row): ClaimedAttempt => ({
          notification: toNotification(row),
          number: row.attempts,
          roundNumber: row.attempts - row.round_start,
          lease,
          leaseUntil: row.lease_until,
          previousDelayMs: row.retry_delay_ms ?? undefined,
        })),
        deadLettered,
        nextDueInMs,
      };
    });
  }

  async markDelivered(attempt: ClaimedAttempt): Promise<void> {
    await this.db.query(MARK_DELIVERED, [attempt.notification.id, attempt.number]);
  }

  async scheduleRetry(attempt: ClaimedAttempt, failure: AttemptFailure, delayMs: number): Promise<boolean> {
    const [row] = await this.db.query<{ held: number }>(SCHEDULE_RETRY, [
      attempt.notification.id,
      attempt.number,
      failure.outcome,
      failure.error,
      Math.max(0, Math.round(delayMs)),
      attempt.lease,
    ]);
    return row?.held === 1;
  }

  async deadLetter(attempt: ClaimedAttempt, failure: AttemptFailure): Promise<boolean> {
    const [row] = await this.db.query<{ held: number }>(DEAD_LETTER, [
      attempt.notification.id,
      attempt.number,
      failure.outcome,
      failure.error,
      attempt.lease,
    ]);
    return row?.held === 1;
  }

  async deadLetters(limit: number, channel?: string): Promise<DeadLetteredNotification[]> {
    const rows = await this.db.query<StateRow>(
      `SELECT id, idempotency_key, receiver, channel, type, gtid, attempts, last_error, created_at, dead_lettered_at
         FROM tx_notification
        WHERE state = 'dead-lettered' AND ($2::text IS NULL OR channel = $2)
        ORDER BY dead_lettered_at, position
        LIMIT $1`,
      [limit, channel ?? null],
    );
    return rows.map((row) => ({
      ...operatorView(row),
      deadLetteredAt: row.dead_lettered_at ?? row.created_at,
    }));
  }

  async replay(id: string): Promise<ReplayResult> {
    const [row] = await this.db.query<{ replayed: number; found: number }>(
      `WITH r AS (
           UPDATE tx_notification
              SET state = 'pending', round_start = attempts, replays = replays + 1,
                  next_attempt_at = clock_timestamp(), retry_delay_ms = NULL
            WHERE id = $1 AND state = 'dead-lettered'
           RETURNING 1)
       SELECT (SELECT count(*) FROM r)::int AS replayed,
              (SELECT count(*) FROM tx_notification WHERE id = $1)::int AS found`,
      [id],
    );
    if (row.replayed === 1) {
      this.notify();
      return 'replayed';
    }
    return row.found === 1 ? 'not-dead-lettered' : 'unknown';
  }

  async find(id: string): Promise<NotificationDetail | undefined> {
    const [row] = await this.db.query<StateRow & { next_attempt_at: Date | null; replays: number }>(
      `SELECT id, idempotency_key, receiver, channel, type, gtid, state, attempts, replays, last_error,
              next_attempt_at, created_at, delivered_at, dead_lettered_at
         FROM tx_notification WHERE id = $1`,
      [id],
    );
    if (!row) return undefined;
    const attempts = await this.db.query<{
      attempt: number;
      dispatcher: string;
      started_at: Date;
      finished_at: Date | null;
      outcome: AttemptOutcome | null;
      error: string | null;
      retry_delay_ms: number | null;
    }>(
      `SELECT attempt, dispatcher, started_at, finished_at, outcome, error, retry_delay_ms
         FROM tx_notification_attempt WHERE notification_id = $1 ORDER BY attempt`,
      [id],
    );
    return {
      ...operatorView(row),
      state: row.state,
      nextAttemptAt: row.next_attempt_at,
      deliveredAt: row.delivered_at,
      deadLetteredAt: row.dead_lettered_at,
      replays: row.replays,
      attemptRecords: attempts.map((a) => ({
        number: a.attempt,
        dispatcher: a.dispatcher,
        startedAt: a.started_at,
        finishedAt: a.finished_at ?? undefined,
        outcome: a.outcome ?? undefined,
        error: a.error ?? undefined,
        retryDelayMs: a.retry_delay_ms ?? undefined,
      })),
    };
  }

  async since(receiver: string, from: string | Date | undefined, limit: number): Promise<ReconciliationPage> {
    let after = 0;
    if (typeof from === 'string') {
      const match = CURSOR.exec(from);
      if (!match) throw new InvalidCursorError(from);
      after = Number(match[1]);
    }
    await this.sequence();
    const rows = await this.db.query<StateRow & { seq: number }>(SINCE, [
      receiver,
      after,
      from instanceof Date ? from : new Date(0),
      limit,
    ]);
    let next = after;
    if (rows.length > 0) next = rows[rows.length - 1].seq;
    else {
      // Nothing for this receiver up to the highest number visible: whatever is numbered later is above it.
      const [top] = await this.db.query<{ seq: number | null }>(
        'SELECT max(seq) AS seq FROM tx_notification',
      );
      next = Math.max(after, top?.seq ?? 0);
    }
    return {
      notifications: rows.map((row) => ({
        ...toNotification(row),
        state: row.state,
        attempts: row.attempts,
        deliveredAt: row.delivered_at,
      })),
      next: `s${next}`,
    };
  }

  /**
   * Numbers the committed notifications not numbered yet (for reconciliation), `batch` a transaction;
   * returns how many. If another sequencer is at work, leaves it to that one: whatever it numbers comes
   * after everything numbered so far, so a reader that goes on without waiting misses nothing.
   */
  async sequence(batch = 5_000): Promise<number> {
    let total = 0;
    for (;;) {
      const numbered = await this.db.transaction(async (tx) => {
        const [lock] = await tx.query<{ held: boolean }>(
          `SELECT pg_try_advisory_xact_lock(hashtext('tx_notification_seq')) AS held`,
        );
        if (!lock?.held) return 0;
        return (await tx.query(SEQUENCE, [batch])).length;
      });
      total += numbered;
      if (numbered < batch) return total;
    }
  }

  /** Pending and dead-lettered counts and the oldest pending notification's age. */
  async backlog(): Promise<NotificationBacklog> {
    const [row] = await this.db.query<{ pending: number; dead: number; oldest_ms: number | null }>(
      `SELECT (SELECT count(*) FROM tx_notification WHERE state = 'pending')::int AS pending,
              (SELECT count(*) FROM tx_notification WHERE state = 'dead-lettered')::int AS dead,
              (SELECT extract(epoch FROM clock_timestamp() - min(created_at)) * 1000
                 FROM tx_notification WHERE state = 'pending')::float8 AS oldest_ms`,
    );
    return { pending: row.pending, deadLettered: row.dead, oldestPendingAgeMs: row.oldest_ms ?? 0 };
  }

  /**
   * Deletes delivered notifications (and their attempts) delivered longer than `olderThanMs` ago, `batch`
   * a statement; returns how many. Pending and dead-lettered ones are kept whatever their age.
   */
  async prune(olderThanMs: number, batch = 5_000): Promise<number> {
    let pruned = 0;
    for (;;) {
      const rows = await this.db.query(
        `DELETE FROM tx_notification WHERE position IN (
           SELECT position FROM tx_notification
            WHERE state = 'delivered' AND delivered_at < clock_timestamp() - make_interval(secs => $1)
            LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING 1`,
        [olderThanMs / 1000, batch],
      );
      pruned += rows.length;
      if (rows.length < batch) return pruned;
    }
  }

  /**
   * Tells dispatchers that notifications were committed: at once to one in this process, and through one
   * coalesced NOTIFY (outside any transaction, so commits never queue on the notification lock) to others.
   */
  notify(): void {
    this.wakeups.notify();
  }

  waitForWork(timeoutMs: number): Promise<void> {
    return this.wakeups.wait(timeoutMs);
  }

  close(): Promise<void> {
    return this.wakeups.close();
  }
}
