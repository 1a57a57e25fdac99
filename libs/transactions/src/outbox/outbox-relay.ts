import { backoffDelay, systemClock } from '../core/clock';
import { errorMessage, ProtocolLogger, silentLogger } from '../core/observer';
import { ProtocolPoints } from '../core/protocol-points';
import {
  MessagePublisher,
  OutboxMessage,
  OutboxStore,
  UnroutableMessagesError,
  UnroutedMessage,
} from '../ports/messaging.ports';

export interface OutboxRelayOptions {
  /** Most messages claimed and published at once. */
  batchSize: number;
  /** Longest idle wait between claims when no NOTIFY arrives. */
  pollMs: number;
  /** Rounds in flight at once (each holds its own partitions); 2 lets one publish while the other claims. */
  rounds?: number;
  /**
   * After a round that drained the backlog (fewer than `batchSize` messages), wait this long before the
   * next claim, so that rounds carry more messages at a moderate rate. Adds at most this much lag.
   */
  lingerMs?: number;
  /** Fault runs only: announced mid-batch and after the publish (the batch is then published in two halves). */
  points?: ProtocolPoints;
}

/** What the relay reports: published messages (for lag) and failed attempts. */
export interface OutboxRelayObserver {
  published(messages: readonly OutboxMessage[], confirmedAt: Date): void;
  failed(error: string): void;
}

export const silentRelayObserver: OutboxRelayObserver = {
  published: () => undefined,
  failed: () => undefined,
};

/**
 * Moves committed outbox messages to the broker. Each round claims a batch (partitions no other relay
 * holds), publishes it in order and waits for the broker's confirms, and only then marks it published.
 * A crash anywhere before the mark leaves the messages pending, so they are published again: delivery is
 * at least once and consumers de-duplicate. Several relays may run; they never publish the same partition
 * at the same time, so messages of one aggregate keep their order.
 */
export class OutboxRelay {
  private running?: Promise<void>;
  private stopped = false;
  private failures = 0;

  constructor(
    private readonly store: OutboxStore<unknown>,
    private readonly publisher: MessagePublisher,
    private readonly options: OutboxRelayOptions,
    private readonly observer: OutboxRelayObserver = silentRelayObserver,
    private readonly logger: ProtocolLogger = silentLogger,
  ) {}

  /**
   * Claims and publishes one batch; returns how many messages were marked published (0 when none was
   * claimable). A message the broker routed to no queue is not marked: it stays pending, held back by the
   * store, and so do the later messages of its aggregate in the batch (they were routed, but marking them
   * would let the aggregate's order break when the held one goes out later; they go out again behind it).
   */
  async publishBatch(): Promise<number> {
    const claim = await this.store.claim(this.options.batchSize);
    if (!claim) return 0;
    const { messages } = claim;
    const { points } = this.options;
    const unrouted: UnroutedMessage[] = [];
    const publish = async (part: readonly OutboxMessage[]): Promise<void> => {
      try {
        await this.publisher.publish(part);
      } catch (error) {
        if (!(error instanceof UnroutableMessagesError)) throw error;
        unrouted.push(...error.unrouted);
      }
    };
    try {
      if (points === undefined) {
        await publish(messages);
      } else {
        // Two halves, so a fault run can stop the relay with part of a batch confirmed and none marked.
        const half = Math.ceil(messages.length / 2);
        await publish(messages.slice(0, half));
        points('outbox.relay.mid-batch', messages[0].gtid);
        if (half < messages.length) await publish(messages.slice(half));
        points('outbox.relay.after-publish', messages[0].gtid);
      }
    } catch (error) {
      await claim.release().catch(() => undefined);
      throw error;
    }
    const confirmedAt = new Date();
    const delivered = unrouted.length === 0 ? messages : this.deliveredBefore(messages, unrouted);
    await claim.complete(
      delivered.map((m) => m.id),
      unrouted,
    );
    if (unrouted.length > 0) {
      const reason = `${unrouted.length} message(s) routed to no queue, held back: ${unrouted[0].reason}`;
      this.observer.failed(reason);
      this.logger.warn('outbox messages routed to no queue; they stay pending and are retried', {
        messageIds: unrouted.map((u) => u.id),
        reason: unrouted[0].reason,
      });
    }
    this.observer.published(delivered, confirmedAt);
    return delivered.length;
  }

  /** The routed messages of a batch that come before any unrouted message of their aggregate. */
  private deliveredBefore(
    messages: readonly OutboxMessage[],
    unrouted: readonly UnroutedMessage[],
  ): OutboxMessage[] {
    const unroutedIds = new Set(unrouted.map((u) => u.id));
    const held = new Set<string>();
    return messages.filter((message) => {
      if (unroutedIds.has(message.id)) held.add(message.aggregateId);
      return !held.has(message.aggregateId);
    });
  }

  /** Starts the loop: publish while there is work, otherwise wait for a NOTIFY or the poll interval. */
  start(): void {
    this.stopped = false;
    this.running ??= Promise.all(Array.from({ length: this.options.rounds ?? 2 }, () => this.loop())).then(
      () => undefined,
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    this.running = undefined;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const published = await this.publishBatch();
        this.failures = 0;
        if (published === 0) await this.store.waitForMessages(this.options.pollMs);
        else if (published < this.options.batchSize && this.options.lingerMs)
          await systemClock.sleep(this.options.lingerMs);
      } catch (error) {
        this.failures += 1;
        const reason = errorMessage(error);
        this.observer.failed(reason);
        this.logger.warn('outbox relay round failed; messages stay pending', { error: reason });
        await systemClock.sleep(backoffDelay(this.failures, 100, 5_000));
      }
    }
  }
}
