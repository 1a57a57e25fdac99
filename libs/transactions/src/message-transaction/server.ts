import { Clock, systemClock, withTimeout } from '../core/clock';
import {
  errorMessage,
  ProtocolLogger,
  silentLogger,
  silentObserver,
  TransactionObserver,
} from '../core/observer';
import { noProtocolPoints, ProtocolPoints } from '../core/protocol-points';
import { recoverEach } from '../core/recovery';
import { MessagePublisher } from '../ports/messaging.ports';
import {
  CheckBackClient,
  MessageQuery,
  MessageRecord,
  MessageServerStore,
  MessageState,
  PreparedMessage,
} from '../ports/message-transaction.ports';
import { MessageConflictError, NotMessageProducerError, outboundOf, UnknownMessageError } from './types';

export interface MessageTransactionServerOptions {
  /** A message still prepared this long after it was registered is checked back with its producer. */
  checkBackAfterMs: number;
  /**
   * How long one submit (or one recovery step) holds a message while it publishes: recovery on another
   * replica takes over only after that, so a slow broker confirm is not raced by a second publish.
   */
  publishLeaseMs: number;
  /** Time allowed for one check-back call. */
  checkBackTimeoutMs: number;
  /** Back-off of failed check-backs and publishes: doubles from `retryBaseMs` up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  recoveryBatch: number;
  /** Announces protocol instants (fault injection); nothing by default. */
  points: ProtocolPoints;
}

export const defaultMessageServerOptions: MessageTransactionServerOptions = {
  checkBackAfterMs: 10_000,
  publishLeaseMs: 30_000,
  checkBackTimeoutMs: 5_000,
  retryBaseMs: 1_000,
  retryMaxMs: 60_000,
  recoveryBatch: 50,
  points: noProtocolPoints,
};

/**
 * The two-phase message server (DTM's "2-phase message", RocketMQ's transactional message). Producers
 * register a prepared message, run their local transaction, then submit; the server publishes submitted
 * messages with publisher confirms and asks producers back about messages left prepared. Framework-free:
 * it sees its table, the broker and the producers only through ports.
 *
 * Invariant: a message reaches the broker only after its producer submitted it or answered a check-back
 * with `committed` — that is, only if the producer's local transaction committed — and every such message
 * reaches it at least once (re-published, same id, until it is marked delivered).
 */
export class MessageTransactionServer {
  private readonly options: MessageTransactionServerOptions;

  constructor(
    private readonly store: MessageServerStore,
    private readonly publisher: MessagePublisher,
    private readonly checkBack: CheckBackClient,
    options: Partial<MessageTransactionServerOptions> = {},
    private readonly observer: TransactionObserver = silentObserver,
    private readonly logger: ProtocolLogger = silentLogger,
    private readonly clock: Clock = systemClock,
  ) {
    this.options = { ...defaultMessageServerOptions, ...options };
  }

  /**
   * Registers a prepared message. Idempotent: the same gtid again changes nothing and answers its current
   * state (`aborted` when a check-back or the producer aborted it meanwhile). `message.producer` must be
   * the authenticated caller and `checkBackUrl` its address from the server's configuration: the HTTP
   * route sees to both.
   */
  async prepare(message: PreparedMessage): Promise<MessageState> {
    const { record, created } = await this.store.prepare(message, this.options.checkBackAfterMs);
    if (record.producer !== message.producer) throw new MessageConflictError(message.gtid, message.producer);
    if (created) {
      this.observer.started('message', message.gtid);
      this.logger.info('message prepared', { gtid: message.gtid, producer: message.producer });
    }
    return record.state;
  }

  /**
   * The producer's local transaction committed: publishes the message and marks it delivered. Idempotent;
   * a submit that finds the message being published by another call answers `submitted` and leaves it
   * to that call (or to recovery). Answers `submitted` too when the broker did not confirm: recovery
   * re-publishes.
   */
  async submit(gtid: string, producer?: string): Promise<MessageState> {
    if (producer !== undefined) await this.assertProducer(gtid, producer);
    const claim = await this.store.claimSubmit(gtid, this.options.publishLeaseMs);
    if (!claim.record) throw new UnknownMessageError(gtid);
    if (!claim.publish) return claim.record.state;
    return this.deliver(claim.record);
  }

  /** The producer's local transaction did not commit. Idempotent; a message already submitted stays so. */
  async abort(gtid: string, producer?: string, reason = 'aborted by its producer'): Promise<MessageState> {
    if (producer !== undefined) await this.assertProducer(gtid, producer);
    const { record, changed } = await this.store.markAborted(gtid, reason);
    if (!record) throw new UnknownMessageError(gtid);
    if (changed) this.finishedAborted(record, reason);
    return record.state;
  }

  /**
   * Only the producer that prepared a message may submit or abort it (the gtid's owner never changes, so
   * reading it first is enough). Unknown gtids are left to the call itself (404).
   */
  private async assertProducer(gtid: string, producer: string): Promise<void> {
    const record = await this.store.get(gtid);
    if (record && record.producer !== producer) throw new NotMessageProducerError(gtid, producer);
  }

  get(gtid: string): Promise<MessageRecord | undefined> {
    return this.store.get(gtid);
  }

  list(query: MessageQuery): Promise<MessageRecord[]> {
    return this.store.list(query);
  }

  /**
   * One recovery sweep: re-publishes submitted messages whose publisher died or was not confirmed, and
   * checks back prepared messages older than `checkBackAfterMs`. Returns how many it finished.
   */
  async recover(): Promise<number> {
    const claimed = await this.store.claimDue(this.options.recoveryBatch, this.options.publishLeaseMs);
    return recoverEach(
      claimed,
      (record) => this.recoverOne(record),
      (record, error) => this.store.noteRetry(record.gtid, error, this.backoff(record.attempts)),
      this.logger,
      'message',
    );
  }

  private async recoverOne(record: MessageRecord): Promise<boolean> {
    const { gtid } = record;
    switch (record.state) {
      case 'submitted':
        this.observer.recovered('message', gtid, 'republish');
        this.logger.info('message re-published by recovery', { gtid });
        return (await this.deliver(record)) === 'delivered';
      case 'prepared':
        return this.checkBackOne(record);
      case 'delivered':
      case 'aborted':
        return false;
    }
  }

  private async checkBackOne(record: MessageRecord): Promise<boolean> {
    const { gtid } = record;
    let outcome;
    try {
      outcome = await withTimeout(
        this.checkBack.outcome(record),
        this.options.checkBackTimeoutMs,
        `check-back of ${gtid} at ${record.producer}`,
        this.clock,
      );
    } catch (error) {
      const message = `check-back: ${errorMessage(error)}`;
      this.observer.retried('message', gtid, 'check-back', message);
      this.logger.warn('message check-back failed; will retry', {
        gtid,
        producer: record.producer,
        error: message,
      });
      await this.store.noteRetry(gtid, message, this.backoff(record.attempts));
      return false;
    }
    if (outcome === 'aborted') {
      const reason = 'check-back: the local transaction did not commit';
      const { record: after, changed } = await this.store.markAborted(gtid, reason);
      if (changed && after) {
        this.observer.recovered('message', gtid, 'check-back-abort');
        this.finishedAborted(after, reason);
      } else if (after && after.state !== 'aborted') {
        // Only a pruned barrier row can say "aborted" about a message its producer submitted.
        this.logger.error('check-back answered aborted for a submitted message; left as it is', {
          gtid,
          state: after.state,
        });
      }
      return changed;
    }
    this.observer.recovered('message', gtid, 'check-back-commit');
    this.logger.info('message check-back: committed', { gtid, producer: record.producer });
    const claim = await this.store.claimSubmit(gtid, this.options.publishLeaseMs);
    // Not ours to publish: the producer's own submit got there first.
    if (!claim.record || !claim.publish) return false;
    return (await this.deliver(claim.record)) === 'delivered';
  }

  /** Publishes a message this caller holds as submitted, then marks it delivered. */
  private async deliver(record: MessageRecord): Promise<MessageState> {
    const { gtid } = record;
    try {
      await this.publisher.publish([outboundOf(record)]);
    } catch (error) {
      const message = `publish: ${errorMessage(error)}`;
      this.observer.retried('message', gtid, 'publish', message);
      this.logger.warn('message not confirmed by the broker; recovery re-publishes it', {
        gtid,
        error: message,
      });
      await this.store.noteRetry(gtid, message, this.backoff(record.attempts)).catch(() => undefined);
      return 'submitted';
    }
    this.options.points('message.server.after-publish', gtid);
    try {
      await this.store.markDelivered(gtid);
    } catch (error) {
      // Bookkeeping only: the broker has it. Recovery re-publishes (same id) once the lease expires.
      this.logger.warn('message published but not marked delivered; recovery re-publishes it', {
        gtid,
        error: errorMessage(error),
      });
      return 'submitted';
    }
    this.observer.finished('message', gtid, 'committed', this.clock.now() - record.createdAt.getTime());
    return 'delivered';
  }

  private finishedAborted(record: MessageRecord, reason: string): void {
    this.logger.info('message aborted', { gtid: record.gtid, reason });
    this.observer.finished('message', record.gtid, 'aborted', this.clock.now() - record.createdAt.getTime());
  }

  private backoff(attempts: number): number {
    const { retryBaseMs, retryMaxMs } = this.options;
    return Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(attempts, 20));
  }
}
