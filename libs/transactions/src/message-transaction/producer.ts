import { Clock, systemClock } from '../core/clock';
import { isValidGtid } from '../core/gtid';
import {
  errorMessage,
  ProtocolLogger,
  silentLogger,
  silentObserver,
  TransactionObserver,
} from '../core/observer';
import { noProtocolPoints, ProtocolPoints } from '../core/protocol-points';
import { NewOutboxEvent } from '../ports/messaging.ports';
import {
  BarrierConflictError,
  MessageBarrierStore,
  MessageOutcome,
  MessageServerClient,
  ProducedMessage,
} from '../ports/message-transaction.ports';
import { DuplicateMessageError, MessageAbortedError } from './types';

export interface MessageTransactionProducerOptions {
  /**
   * The producing service's name: the messages' `source`. Over HTTP it must be the name this service
   * authenticates as; the server calls it back at the address its own configuration gives for it.
   */
  name: string;
  /** Announces protocol instants (fault injection); nothing by default. */
  points: ProtocolPoints;
}

/** A message to send with a local transaction; the gtid names both. */
export type TwoPhaseMessage = NewOutboxEvent & { gtid: string };

/**
 * The producer's side of a two-phase message: prepare at the server, run the local transaction with its
 * barrier row, submit. Framework-free over `MessageServerClient` and `MessageBarrierStore<S>`; `S` is the
 * producer's local transaction handle.
 *
 * Invariant: the server publishes the message if and only if the local transaction committed. The
 * barrier row is the single source of that fact: the local transaction writes `commit`, a check-back that
 * finds no row writes `rollback`, and whichever lands first wins (the other fails or reads it).
 */
export class MessageTransactionProducer<S> {
  private readonly options: MessageTransactionProducerOptions;

  constructor(
    private readonly server: MessageServerClient,
    private readonly barrier: MessageBarrierStore<S>,
    options: Partial<MessageTransactionProducerOptions> & { name: string },
    private readonly observer: TransactionObserver = silentObserver,
    private readonly logger: ProtocolLogger = silentLogger,
    private readonly clock: Clock = systemClock,
  ) {
    this.options = { points: noProtocolPoints, ...options };
  }

  /**
   * Sends `message` if and only if `localWork` commits. Resolves with what `localWork` returned once the
   * local transaction committed — whether or not the submit reached the server (a check-back delivers it
   * then). Throws `localWork`'s own error when it failed, MessageAbortedError when the server had already
   * settled the message as aborted, DuplicateMessageError when this gtid's local transaction committed in
   * an earlier run (the work is not repeated; the message is delivered once).
   */
  async run<T>(message: TwoPhaseMessage, localWork: (session: S) => Promise<T>): Promise<T> {
    const { gtid } = message;
    if (!isValidGtid(gtid)) throw new Error('gtid must be 1–64 characters of letters, digits and . _ : -');
    const started = this.clock.now();
    this.observer.started('message', gtid);

    const state = await this.server.prepare(this.prepared(message));
    switch (state) {
      case 'prepared':
        break;
      case 'aborted':
        this.observer.finished('message', gtid, 'aborted', this.clock.now() - started);
        throw new MessageAbortedError(gtid, 'the server had already aborted it');
      case 'submitted':
      case 'delivered':
        throw new DuplicateMessageError(gtid);
    }
    this.options.points('message.producer.after-prepare', gtid);

    let result: T;
    try {
      result = await this.barrier.runCommitted(gtid, localWork);
    } catch (error) {
      throw await this.afterLocalFailure(gtid, error, started);
    }
    this.options.points('message.producer.after-local-commit', gtid);
    await this.submit(gtid);
    this.observer.finished('message', gtid, 'committed', this.clock.now() - started);
    return result;
  }

  /**
   * The check-back: did the local transaction of `gtid` commit? Settles the question for good by writing
   * a `rollback` barrier row when there is none (waiting for a local transaction still in flight).
   */
  async outcome(gtid: string): Promise<MessageOutcome> {
    const op = await this.barrier.settle(gtid);
    this.logger.info('message check-back answered', { gtid, outcome: op });
    return op === 'commit' ? 'committed' : 'aborted';
  }

  private prepared(message: TwoPhaseMessage): ProducedMessage {
    return {
      gtid: message.gtid,
      id: message.id ?? message.gtid,
      producer: this.options.name,
      exchange: message.exchange,
      routingKey: message.routingKey,
      type: message.type,
      aggregateId: message.aggregateId,
      payload: message.payload,
    };
  }

  /** Best effort: a submit that does not land is delivered by the server's check-back. */
  private async submit(gtid: string): Promise<void> {
    try {
      const state = await this.server.submit(gtid);
      if (state === 'aborted') {
        // Only a pruned barrier row lets a check-back abort a message whose local transaction committed.
        this.logger.error('message committed locally but aborted at the server', { gtid });
      }
    } catch (error) {
      this.observer.retried('message', gtid, 'submit', errorMessage(error));
      this.logger.warn('message submit failed after the local commit; the check-back will deliver it', {
        gtid,
        error: errorMessage(error),
      });
    }
  }

  /**
   * The local transaction failed: settles the barrier (a commit whose acknowledgement was lost is found
   * there) and tells the server. Returns the error to throw.
   */
  private async afterLocalFailure(gtid: string, error: unknown, started: number): Promise<unknown> {
    if (error instanceof BarrierConflictError) {
      if (error.op === 'commit') {
        // An earlier run of this gtid committed; make sure its message goes out, and do not run twice.
        await this.submit(gtid);
        return new DuplicateMessageError(gtid);
      }
      await this.abortAtServer(gtid);
      this.observer.finished('message', gtid, 'aborted', this.clock.now() - started);
      return new MessageAbortedError(gtid, error.message);
    }
    let op;
    try {
      op = await this.barrier.settle(gtid);
    } catch (settleError) {
      // The database is unreachable: the server's check-back settles it later.
      this.logger.warn('message barrier not settled after a failed local transaction', {
        gtid,
        error: errorMessage(settleError),
      });
      return error;
    }
    if (op === 'commit') {
      // The commit landed but its acknowledgement was lost: the message must go out.
      this.logger.warn('message local transaction reported an error but committed; submitting', { gtid });
      await this.submit(gtid);
      return error;
    }
    await this.abortAtServer(gtid);
    this.observer.finished('message', gtid, 'aborted', this.clock.now() - started);
    return error;
  }

  private async abortAtServer(gtid: string): Promise<void> {
    try {
      await this.server.abort(gtid);
    } catch (error) {
      this.logger.warn('message abort not delivered; the check-back settles it', {
        gtid,
        error: errorMessage(error),
      });
    }
  }
}
