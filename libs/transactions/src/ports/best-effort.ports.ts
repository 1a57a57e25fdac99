/**
 * Ports of the best-effort notification style. The core in `best-effort/` sees only these; the PostgreSQL
 * adapter implements the store, services implement channels (HTTP to a monitoring station, SMTP, an SMS
 * gateway…), and in-memory ones under `testing/` drive the property spec.
 */

/** A notification a service wants delivered, written in the same local transaction as the change behind it. */
export interface NewNotification {
  /**
   * Who should receive it: a logical receiver name (`monitoring-station`, `practitioner/7`…). Reconciliation
   * (`since`) is asked per receiver.
   */
  receiver: string;
  /** The channel that delivers it (one `NotificationChannel` per name); each channel is retried on its own. */
  channel: string;
  /** What happened, e.g. `vital-signs.alert`. Receivers route on it. */
  type: string;
  /** JSON-serialisable body. Never log it: it may hold patient data. */
  payload: unknown;
  /**
   * The key receivers de-duplicate on; unique across this service's notifications. A random UUID when
   * absent. A caller that may write the same notification twice (a retried request) passes its own.
   */
  idempotencyKey?: string;
  /** The global transaction the change belongs to; a fresh one is made when absent. */
  gtid?: string;
}

/** A notification as stored and as a channel delivers it. */
export interface Notification {
  id: string;
  idempotencyKey: string;
  receiver: string;
  channel: string;
  type: string;
  gtid: string;
  payload: unknown;
  createdAt: Date;
}

/** `pending` until delivered, or dead-lettered (given up) until an operator replays it. */
export type NotificationState = 'pending' | 'delivered' | 'dead-lettered';

/**
 * How one attempt ended: `failed` (the channel said try again, or threw), `rejected` (the channel said it
 * can never be delivered), `timeout` (no answer within the attempt's time-out), `abandoned` (its dispatcher
 * stopped before recording an outcome; the lease ran out).
 */
export type AttemptOutcome = 'delivered' | 'failed' | 'rejected' | 'timeout' | 'abandoned';

/** One delivery attempt, begun by a claim: the claim leases the notification to one dispatcher. */
export interface ClaimedAttempt {
  notification: Notification;
  /** 1, 2, 3… over the notification's life (a replay continues the count). */
  number: number;
  /** 1 … `maxAttempts` within the current round (since it was written or last replayed). */
  roundNumber: number;
  /** Fencing token of the claim: a retry or dead-letter is refused once another claim took the notification. */
  lease: string;
  leaseUntil: Date;
  /** The delay scheduled after the previous attempt (decorrelated jitter grows from it). */
  previousDelayMs?: number;
}

export interface ClaimRequest {
  /** Names the dispatcher in leases and attempt records (a replica id). */
  dispatcher: string;
  /** Only notifications of these channels are claimed (a dispatcher serves the channels it has). */
  channels: readonly string[];
  limit: number;
  /** How long a claimed notification is withheld from other dispatchers without an outcome recorded. */
  leaseMs: number;
  /**
   * Attempts per round. A due notification whose round is used up (its last attempt was abandoned) is
   * dead-lettered by the claim instead of being attempted again.
   */
  maxAttempts: number;
}

export interface ClaimResult {
  /** The attempts begun: each notification leased to the caller with a new attempt row. */
  attempts: ClaimedAttempt[];
  /** Notifications the claim dead-lettered because their round was used up by abandoned attempts. */
  deadLettered: { id: string; channel: string }[];
  /** When fewer than `limit` were due: milliseconds until the next one of these channels falls due, if any. */
  nextDueInMs?: number;
}

/** What a failed attempt reports. `error` is the channel's reason; it never quotes the payload. */
export interface AttemptFailure {
  outcome: 'failed' | 'rejected' | 'timeout';
  error: string;
}

/** A dead-lettered notification as an operator sees it (never the payload). */
export interface DeadLetteredNotification {
  id: string;
  idempotencyKey: string;
  receiver: string;
  channel: string;
  type: string;
  gtid: string;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  deadLetteredAt: Date;
}

export type ReplayResult = 'replayed' | 'not-dead-lettered' | 'unknown';

/** A recorded attempt. */
export interface AttemptRecord {
  number: number;
  dispatcher: string;
  startedAt: Date;
  /** Unset while the attempt is in flight. */
  finishedAt?: Date;
  outcome?: AttemptOutcome;
  error?: string;
  /** The delay scheduled before the next attempt, when this one failed and another follows. */
  retryDelayMs?: number;
}

/** A notification's state and every attempt, for operators (never the payload). */
export interface NotificationDetail extends Omit<DeadLetteredNotification, 'deadLetteredAt'> {
  state: NotificationState;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  deadLetteredAt: Date | null;
  replays: number;
  attemptRecords: AttemptRecord[];
}

/** A notification as its receiver fetches it through reconciliation (with the payload: it is the receiver's). */
export interface ReconciledNotification extends Notification {
  state: NotificationState;
  attempts: number;
  deliveredAt: Date | null;
}

/** One page of reconciliation: `next` continues after it (pass it as the next page's cursor). */
export interface ReconciliationPage {
  notifications: ReconciledNotification[];
  next: string;
}

/** A reconciliation cursor that this store did not hand out. */
export class InvalidCursorError extends Error {
  constructor(cursor: string) {
    super(`'${cursor.slice(0, 40)}' is not a reconciliation cursor`);
  }
}

/** Writes notifications inside the caller's local transaction (`S` is its session type). */
export interface NotificationWriter<S> {
  append(session: S, notifications: readonly NewNotification[]): Promise<Notification[]>;
}

/**
 * The notification log. Appends are part of the caller's transaction; everything else commits on its own.
 * A claim leases each notification to one dispatcher and begins an attempt; the attempt then ends in
 * exactly one of `markDelivered`, `scheduleRetry` or `deadLetter`, or is abandoned (its dispatcher
 * stopped) and found so by the next claim after the lease.
 */
export interface NotificationStore<S> extends NotificationWriter<S> {
  /** Leases up to `limit` due notifications no other dispatcher holds, beginning an attempt on each. */
  claim(request: ClaimRequest): Promise<ClaimResult>;
  /**
   * Records the attempt delivered and the notification delivered, whoever holds it now (delivered is the
   * truth, even from an attempt whose lease ran out, and even for one dead-lettered meanwhile).
   */
  markDelivered(attempt: ClaimedAttempt): Promise<void>;
  /**
   * Records the failed attempt and, while the claim's lease is still the notification's, schedules the
   * next attempt `delayMs` from now and releases the lease. Returns false when the lease was lost.
   */
  scheduleRetry(attempt: ClaimedAttempt, failure: AttemptFailure, delayMs: number): Promise<boolean>;
  /** Records the failed attempt and, while the lease holds, dead-letters the notification. */
  deadLetter(attempt: ClaimedAttempt, failure: AttemptFailure): Promise<boolean>;
  /** Dead-lettered notifications, oldest first. */
  deadLetters(limit: number, channel?: string): Promise<DeadLetteredNotification[]>;
  /** Puts a dead-lettered notification back to be delivered now, with a fresh round of attempts. */
  replay(id: string): Promise<ReplayResult>;
  find(id: string): Promise<NotificationDetail | undefined>;
  /**
   * Reconciliation: the receiver's notifications (every state) after `from` — a cursor from an earlier
   * page, a time (created at or after it), or nothing (from the start) — up to `limit`, in an order in
   * which a notification that commits late always comes after every cursor handed out before: paging on
   * from `next` never skips one.
   */
  since(receiver: string, from: string | Date | undefined, limit: number): Promise<ReconciliationPage>;
  /** Resolves when notifications may have been appended (or after `timeoutMs`). */
  waitForWork(timeoutMs: number): Promise<void>;
}

/** What a channel answers for one delivery. */
export type DeliveryResult =
  | { kind: 'delivered' }
  /** Not delivered now (receiver down, busy, network): attempted again after a back-off. */
  | { kind: 'retryable'; reason: string }
  /** Never deliverable (receiver unknown, address invalid): dead-lettered at once. */
  | { kind: 'permanent'; reason: string };

export interface DeliveryContext {
  /** The attempt's number (1, 2, 3…), for the receiver's logs. */
  attempt: number;
  /** Aborted when the attempt's time-out ran out: stop working on it. */
  signal: AbortSignal;
}

/**
 * Delivers one notification to its receiver (an HTTP station, an SMTP server, an SMS gateway). Carries
 * `notification.idempotencyKey` (a header, a Message-ID…) so the receiver can drop duplicates: a delivery
 * may arrive more than once. A thrown error counts as retryable.
 */
export interface NotificationChannel {
  deliver(notification: Notification, context: DeliveryContext): Promise<DeliveryResult>;
}
