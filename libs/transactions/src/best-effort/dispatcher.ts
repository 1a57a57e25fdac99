import { Clock, systemClock, TimeoutError, withTimeout } from '../core/clock';
import { errorMessage, ProtocolLogger, silentLogger } from '../core/observer';
import { noProtocolPoints, ProtocolPoints } from '../core/protocol-points';
import {
  AttemptFailure,
  AttemptOutcome,
  ClaimedAttempt,
  DeliveryResult,
  NotificationChannel,
  NotificationStore,
} from '../ports/best-effort.ports';
import { assertBackoffPolicy, BackoffPolicy, nextDelay } from './backoff';

/** How one dispatcher delivers: its claims, its time-outs, its patience and its back-off. */
export interface DeliveryPolicy {
  /** Most notifications claimed (and attempted side by side) at once. */
  batchSize: number;
  /** Longest idle wait between claims when nothing wakes the dispatcher and nothing falls due. */
  pollMs: number;
  /** How long a claimed notification is withheld from other dispatchers; longer than `attemptTimeoutMs`. */
  leaseMs: number;
  /** An attempt without an answer by then counts as failed (`timeout`) and is retried. */
  attemptTimeoutMs: number;
  /** Attempts per round before a notification is dead-lettered (a replay starts a new round). */
  maxAttempts: number;
  backoff: BackoffPolicy;
}

export interface BestEffortDispatcherOptions extends DeliveryPolicy {
  /** Names this dispatcher in leases and attempt records: a replica id, never patient data. */
  name: string;
  /** Fault runs only: announced just before a delivery and just after a delivered answer. */
  points?: ProtocolPoints;
}

/** What a dispatcher reports: for metrics. */
export interface BestEffortObserver {
  attempted(channel: string, outcome: AttemptOutcome, durationMs: number): void;
  delivered(channel: string, latencyMs: number): void;
  deadLettered(channel: string, count: number): void;
  /** A round that failed as a whole (the store unreachable): its notifications wait for their leases. */
  failed(error: string): void;
}

export const silentBestEffortObserver: BestEffortObserver = {
  attempted: () => undefined,
  delivered: () => undefined,
  deadLettered: () => undefined,
  failed: () => undefined,
};

/** What one round did. */
export interface DispatchRound {
  /** Attempts begun (each ended, unless the dispatcher stopped or the store failed meanwhile). */
  attempted: number;
  /** When the round claimed fewer than a batch: milliseconds until the next notification falls due. */
  nextDueInMs?: number;
}

/** Throws on a policy that cannot keep the style's promises. */
export function assertDeliveryPolicy(policy: DeliveryPolicy): void {
  assertBackoffPolicy(policy.backoff);
  const positive = (name: keyof DeliveryPolicy, value: number): void => {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  };
  positive('batchSize', policy.batchSize);
  positive('pollMs', policy.pollMs);
  positive('maxAttempts', policy.maxAttempts);
  positive('attemptTimeoutMs', policy.attemptTimeoutMs);
  // An attempt's outcome must be recorded while its lease holds, or a second dispatcher could take it.
  if (!Number.isInteger(policy.leaseMs) || policy.leaseMs <= policy.attemptTimeoutMs)
    throw new RangeError('leaseMs must be an integer greater than attemptTimeoutMs');
}

/**
 * Delivers logged notifications through their channels. A round claims due notifications (each leased to
 * this dispatcher, with a new attempt begun), delivers them side by side, each within the attempt
 * time-out, and records every outcome: delivered; a retry after an exponential back-off with jitter; or
 * a dead letter after a permanent failure or `maxAttempts` failed attempts in the round.
 *
 * Several dispatchers (one per replica, or one per channel) may run over one store: a lease keeps a
 * notification with one dispatcher until its outcome is recorded or the lease runs out. A dispatcher
 * that stops mid-attempt records nothing; the notification is claimed again after the lease (the
 * abandoned attempt counted), so a receiver may get it twice and de-duplicates by its idempotency key.
 */
export class BestEffortDispatcher {
  private readonly points: ProtocolPoints;
  private running?: Promise<void>;
  private stopped = false;
  private failures = 0;

  constructor(
    private readonly store: NotificationStore<unknown>,
    private readonly channels: Readonly<Record<string, NotificationChannel>>,
    private readonly options: BestEffortDispatcherOptions,
    private readonly observer: BestEffortObserver = silentBestEffortObserver,
    private readonly logger: ProtocolLogger = silentLogger,
    private readonly clock: Clock = systemClock,
    private readonly random: () => number = Math.random,
  ) {
    assertDeliveryPolicy(options);
    if (Object.keys(channels).length === 0) throw new RangeError('a dispatcher needs at least one channel');
    this.points = options.points ?? noProtocolPoints;
  }

  /** Claims one batch and attempts each notification in it; resolves when every outcome is recorded. */
  async dispatchBatch(): Promise<DispatchRound> {
    const { options } = this;
    const claim = await this.store.claim({
      dispatcher: options.name,
      channels: Object.keys(this.channels),
      limit: options.batchSize,
      leaseMs: options.leaseMs,
      maxAttempts: options.maxAttempts,
    });
    for (const { id, channel } of claim.deadLettered) {
      this.observer.deadLettered(channel, 1);
      this.logger.warn('notification dead-lettered: its last attempt was abandoned', {
        notificationId: id,
        channel,
      });
    }
    const settled = await Promise.allSettled(claim.attempts.map((attempt) => this.attempt(attempt)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    // One failed record fails the round (the store is unreachable): its notification waits for its lease.
    if (failed) throw failed.reason;
    return { attempted: claim.attempts.length, nextDueInMs: claim.nextDueInMs };
  }

  /** One attempt: deliver within the time-out, then record the outcome and what follows. */
  private async attempt(attempt: ClaimedAttempt): Promise<void> {
    const { notification } = attempt;
    const started = this.clock.now();
    this.points('best-effort.dispatcher.before-delivery', notification.gtid);
    const result = await this.deliver(attempt);
    const durationMs = this.clock.now() - started;
    if (result === 'delivered') {
      this.points('best-effort.dispatcher.after-delivery', notification.gtid);
      await this.store.markDelivered(attempt);
      this.observer.attempted(notification.channel, 'delivered', durationMs);
      this.observer.delivered(notification.channel, this.clock.now() - notification.createdAt.getTime());
      return;
    }
    this.observer.attempted(notification.channel, result.outcome, durationMs);
    const fields = {
      notificationId: notification.id,
      gtid: notification.gtid,
      channel: notification.channel,
      attempt: attempt.number,
      outcome: result.outcome,
      error: result.error,
    };
    const exhausted = attempt.roundNumber >= this.options.maxAttempts;
    if (result.outcome === 'rejected' || exhausted) {
      const reason =
        result.outcome === 'rejected'
          ? result
          : { ...result, error: `gave up after ${attempt.roundNumber} attempts: ${result.error}` };
      if (await this.store.deadLetter(attempt, reason)) {
        this.observer.deadLettered(notification.channel, 1);
        this.logger.warn('notification dead-lettered', fields);
      }
      return;
    }
    const delayMs = nextDelay(
      attempt.roundNumber,
      this.options.backoff,
      attempt.previousDelayMs,
      this.random,
    );
    await this.store.scheduleRetry(attempt, result, delayMs);
    this.logger.info('notification attempt failed; retrying after a back-off', { ...fields, delayMs });
  }

  /** The channel's answer within the time-out; a throw is a retryable failure, never an escape. */
  private async deliver(attempt: ClaimedAttempt): Promise<'delivered' | AttemptFailure> {
    const { notification } = attempt;
    const channel = this.channels[notification.channel];
    if (channel === undefined) {
      // A claim only returns this dispatcher's channels; a store that broke that promise is a bug.
      return { outcome: 'failed', error: `no channel '${notification.channel}' in this dispatcher` };
    }
    const controller = new AbortController();
    let answer: DeliveryResult;
    try {
      answer = await withTimeout(
        channel.deliver(notification, { attempt: attempt.number, signal: controller.signal }),
        this.options.attemptTimeoutMs,
        `delivery through '${notification.channel}'`,
        this.clock,
      );
    } catch (error) {
      if (error instanceof TimeoutError) {
        controller.abort();
        return { outcome: 'timeout', error: error.message };
      }
      return { outcome: 'failed', error: errorMessage(error) };
    }
    switch (answer.kind) {
      case 'delivered':
        return 'delivered';
      case 'retryable':
        return { outcome: 'failed', error: answer.reason };
      case 'permanent':
        return { outcome: 'rejected', error: answer.reason };
    }
  }

  /** Starts the loop: dispatch while there is work, otherwise wait for a wake-up, a due time or the poll. */
  start(): void {
    this.stopped = false;
    this.running ??= this.loop();
  }

  /** Stops after the round in flight (its outcomes recorded). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    this.running = undefined;
  }

  private async loop(): Promise<void> {
    const { batchSize, pollMs } = this.options;
    while (!this.stopped) {
      try {
        const round = await this.dispatchBatch();
        this.failures = 0;
        if (round.attempted < batchSize && !this.stopped)
          await this.store.waitForWork(Math.max(1, Math.min(pollMs, round.nextDueInMs ?? pollMs)));
      } catch (error) {
        this.failures += 1;
        const reason = errorMessage(error);
        this.observer.failed(reason);
        this.logger.warn('notification dispatch round failed; its notifications wait for their leases', {
          error: reason,
        });
        const delay = nextDelay(
          this.failures,
          { baseDelayMs: 100, maxDelayMs: 5_000, jitter: 'full' },
          undefined,
        );
        await this.clock.sleep(delay);
      }
    }
  }
}
