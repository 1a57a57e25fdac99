/**
 * Ports of the message-based styles (outbox / inbox, two-phase message). The cores in `outbox/` and
 * `message-transaction/` see only these; PostgreSQL and RabbitMQ adapters implement them, and in-memory
 * ones under `testing/` drive the property specs.
 */

/** An event a service wants delivered, written in the same local transaction as the change it describes. */
export interface NewOutboxEvent {
  /** Destination exchange (a topic exchange; declared by the relay when first used). */
  exchange: string;
  routingKey: string;
  /** What happened, e.g. `pharmacy.medication-dispensed`. Consumers route on it. */
  type: string;
  /**
   * Ordering key: events of one aggregate (one drug at one location, one purchase order…) reach each
   * consumer in the order they were written. Events of different aggregates may interleave.
   */
  aggregateId: string;
  /** JSON-serialisable body. Never log it: it may hold patient data. */
  payload: unknown;
  /** The global transaction this event belongs to; a fresh one is made when absent. */
  gtid?: string;
  /** A caller-chosen message id (for idempotent producers); a random UUID when absent. */
  id?: string;
}

/** A message as handed to the broker: by the outbox relay, or by the two-phase message server. */
export interface OutboundMessage {
  /** Message id; consumers de-duplicate on it. */
  id: string;
  exchange: string;
  routingKey: string;
  type: string;
  /** The producing service, so `source|aggregateId` is unique across producers. */
  source: string;
  gtid: string;
  payload: unknown;
  /** Ordering key and 1, 2, 3… sequence within it, when the producer orders its messages. */
  aggregateId?: string;
  sequence?: number;
  /** The W3C trace context of the request that wrote it, published as the `traceparent` header. */
  traceparent?: string;
}

/** An event as stored in the outbox: its order is fixed at append time. */
export interface OutboxMessage extends OutboundMessage {
  /** Position in the producer's outbox (global append order). */
  position: number;
  aggregateId: string;
  /** 1, 2, 3… per aggregate in the producer's outbox, in commit order. */
  sequence: number;
  createdAt: Date;
}

/** Writes events inside the caller's local transaction (`S` is its session type). */
export interface OutboxWriter<S> {
  append(session: S, events: readonly NewOutboxEvent[]): Promise<OutboxMessage[]>;
}

/** A claimed batch: the claim holds until `complete` or `release`, so no other relay publishes it meanwhile. */
export interface OutboxClaim {
  /** Unpublished messages, in order per aggregate (ascending position). */
  readonly messages: readonly OutboxMessage[];
  /**
   * Marks `publishedIds` published and ends the claim. `unroutable` messages (the broker routed them to no
   * queue) stay pending, held back for a while; later messages of their aggregates wait behind them.
   */
  complete(publishedIds: readonly string[], unroutable?: readonly UnroutedMessage[]): Promise<void>;
  /** Ends the claim without marking anything (publishing failed); the messages stay pending. */
  release(): Promise<void>;
}

export interface OutboxStore<S> extends OutboxWriter<S> {
  /**
   * Claims up to `limit` pending messages that no other relay holds (`FOR UPDATE SKIP LOCKED` on
   * ordering partitions in PostgreSQL). Returns `undefined` when nothing is pending or claimable.
   */
  claim(limit: number): Promise<OutboxClaim | undefined>;
  /** Resolves when new messages may be pending (NOTIFY), or after `timeoutMs`. */
  waitForMessages(timeoutMs: number): Promise<void>;
  /** Pending count and the age of the oldest pending message, for `/metrics`. */
  backlog(): Promise<{ pending: number; oldestAgeMs: number }>;
}

/**
 * Publishes to the broker; resolves only when the broker has confirmed every message (publisher confirms)
 * and routed each to at least one queue. Rejects with `UnroutableMessagesError` when the others were
 * confirmed but some reached no queue, with any other error when the publish as a whole failed.
 */
export interface MessagePublisher {
  publish(messages: readonly OutboundMessage[]): Promise<void>;
}

/** A message the broker accepted but routed to no queue (no queue bound to its exchange and routing key). */
export interface UnroutedMessage {
  id: string;
  reason: string;
}

/**
 * Some messages of a publish reached no queue (the broker returned them); every other message of that
 * publish was confirmed and routed. Such a message is not delivered: the caller keeps it to publish again.
 */
export class UnroutableMessagesError extends Error {
  constructor(readonly unrouted: readonly UnroutedMessage[]) {
    super(`${unrouted.length} message(s) routed to no queue: ${unrouted[0]?.reason ?? ''}`);
  }
}

/** A message as a consumer receives it. */
export interface InboundMessage {
  id: string;
  type: string;
  gtid: string;
  source?: string;
  aggregateId?: string;
  sequence?: number;
  /** Parsed JSON body, not yet validated: the handler validates it. */
  payload: unknown;
  /** How many times the broker delivered it before (0 on the first delivery). */
  deliveryCount: number;
  /** Put back from the dead-letter queue by an operator: applied even though the inbox saw it rejected. */
  replayed: boolean;
  /** The producer's trace context (`traceparent` header), when it had one. */
  traceparent?: string;
}

/** What a consumer decided for one delivery; the broker adapter carries it out. */
export type Disposition =
  | { kind: 'applied' }
  | { kind: 'duplicate' }
  /** Rejected for good (malformed, unknown drug…): moved to the dead-letter queue with the reason. */
  | { kind: 'dead-letter'; reason: string }
  /** Not applied now (transient failure, or an earlier message of its aggregate is still missing): redeliver later. */
  | { kind: 'retry'; reason: string };

export type InboxOutcome = 'applied' | 'dead-lettered';

/** One row the consumer writes in its inbox, in the same transaction as the effect. */
export interface InboxEntry {
  messageId: string;
  outcome: InboxOutcome;
  reason?: string;
  /** The id is already in the inbox as dead-lettered and is now applied after a replay. */
  replacing: boolean;
}

/** The consumer's inbox, used inside its local transaction (`S` is the session type). */
export interface InboxStore<S> {
  /** The outcome recorded for each of `ids` this consumer has seen before. */
  seen(session: S, consumer: string, ids: readonly string[]): Promise<Map<string, InboxOutcome>>;
  /** Last applied sequence per ordering key (`source|aggregateId`), locked until the transaction ends. */
  lockCursors(session: S, consumer: string, keys: readonly string[]): Promise<Map<string, number>>;
  /** Records the entries and moves the cursors forward (never back). */
  record(
    session: S,
    consumer: string,
    entries: readonly InboxEntry[],
    cursors: ReadonlyMap<string, number>,
  ): Promise<void>;
}
