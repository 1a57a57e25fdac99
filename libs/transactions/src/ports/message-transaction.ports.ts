/**
 * Ports of the two-phase message style (`../message-transaction/`). The server core sees its store, the
 * broker (`MessagePublisher`, from `messaging.ports.ts`) and a way to ask producers back; the producer
 * core sees its barrier table and a client of the server. PostgreSQL and HTTP adapters implement them in
 * services, in-memory ones under `testing/` in unit specs.
 */

/** Life of a message at the server. `prepared` → `submitted` → `delivered`, or `prepared` → `aborted`. */
export type MessageState = 'prepared' | 'submitted' | 'delivered' | 'aborted';

export const MESSAGE_STATES: readonly MessageState[] = ['prepared', 'submitted', 'delivered', 'aborted'];

/** A producer's answer to a check-back, read from its barrier table. */
export type MessageOutcome = 'committed' | 'aborted';

/** What a producer registers at prepare time. */
export interface PreparedMessage {
  gtid: string;
  /** Message id consumers de-duplicate on; the gtid unless the producer chose one. */
  id: string;
  /** The producing service's name: the message's `source`. */
  producer: string;
  /**
   * Base URL the server calls the producer back at (`POST <url>/internal/message-transactions/:gtid/outcome`),
   * as the server's own configuration gives it for the producer when the message is prepared; never taken
   * from the producer's request. Recorded for inspection: each check-back looks the address up again.
   */
  checkBackUrl: string;
  exchange: string;
  routingKey: string;
  type: string;
  aggregateId: string;
  /** JSON-serialisable body. Never logged. */
  payload: unknown;
}

/** What a producer sends at prepare time: the server adds the check-back address from its configuration. */
export type ProducedMessage = Omit<PreparedMessage, 'checkBackUrl'>;

/** A message as the server's table holds it. */
export interface MessageRecord extends PreparedMessage {
  state: MessageState;
  /** Check-backs and publishes that had to be repeated. */
  attempts: number;
  lastError?: string;
  createdAt: Date;
  updatedAt: Date;
  /**
   * When recovery may next look at the row: the check-back instant of a prepared message, the end of the
   * publishing lease of a submitted one. Absent once delivered or aborted.
   */
  nextCheckAt?: Date;
  /** The W3C trace context of the producer's prepare, published with the message; absent outside a trace. */
  traceparent?: string;
}

/** Result of a prepare: the record in force, and whether this call created it. */
export interface PrepareResult {
  record: MessageRecord;
  created: boolean;
}

/** Result of taking a message to `submitted`: whether this caller now holds the right to publish it. */
export interface SubmitClaim {
  /** The record after the call; absent when the server never heard of the gtid. */
  record?: MessageRecord;
  /** True when this caller moved it to `submitted` (or took over an expired publishing lease). */
  publish: boolean;
}

export interface MessageQuery {
  state?: MessageState;
  producer?: string;
  /** Only messages created before this instant (ISO). */
  before?: string;
  limit: number;
}

/** The server's durable table of messages (`tx_message`). */
export interface MessageServerStore {
  /**
   * Records a prepared message, first check-back due `checkBackAfterMs` from now. Idempotent: a gtid that
   * already exists is left as it is and returned with `created: false`.
   */
  prepare(message: PreparedMessage, checkBackAfterMs: number): Promise<PrepareResult>;
  /**
   * Moves a prepared message to `submitted`, or takes over a submitted one whose publishing lease
   * expired, and gives the caller a publishing lease of `leaseMs`. Otherwise changes nothing and answers
   * `publish: false` with the record as it is (another caller is publishing it, or it is finished).
   */
  claimSubmit(gtid: string, leaseMs: number): Promise<SubmitClaim>;
  /** `submitted` → `delivered` (after the broker confirmed). No-op in any other state. */
  markDelivered(gtid: string): Promise<void>;
  /**
   * `prepared` → `aborted`. Returns the record in force afterwards (absent when the gtid is unknown) and
   * whether this call aborted it.
   */
  markAborted(gtid: string, reason: string): Promise<{ record?: MessageRecord; changed: boolean }>;
  /** Notes a failed publish or check-back; recovery looks at the row again after `retryAfterMs`. */
  noteRetry(gtid: string, error: string, retryAfterMs: number): Promise<void>;
  /**
   * Claims up to `limit` unfinished messages whose `nextCheckAt` has passed, holding each for `leaseMs`
   * (`FOR UPDATE SKIP LOCKED` in PostgreSQL, so replicas of the server never claim the same row at once).
   */
  claimDue(limit: number, leaseMs: number): Promise<MessageRecord[]>;
  get(gtid: string): Promise<MessageRecord | undefined>;
  list(query: MessageQuery): Promise<MessageRecord[]>;
}

/**
 * How the server asks a producer whether the local transaction of a prepared message committed. The
 * producer is found by name (its address comes from the server's configuration).
 */
export interface CheckBackClient {
  outcome(message: Pick<MessageRecord, 'gtid' | 'producer'>): Promise<MessageOutcome>;
}

/** The producer's view of the server (HTTP in services, the core itself in unit specs). */
export interface MessageServerClient {
  prepare(message: ProducedMessage): Promise<MessageState>;
  submit(gtid: string): Promise<MessageState>;
  abort(gtid: string): Promise<MessageState>;
}

/** Raised by `MessageBarrierStore.runCommitted` when the gtid already has a barrier row. */
export class BarrierConflictError extends Error {
  constructor(
    readonly gtid: string,
    readonly op: BarrierOp,
  ) {
    super(
      op === 'rollback'
        ? `message ${gtid} was already settled as aborted (check-back before the local transaction)`
        : `the local transaction of message ${gtid} already committed`,
    );
  }
}

export type BarrierOp = 'commit' | 'rollback';

/**
 * The producer's barrier table (`tx_message_barrier`), in the producer's own database. `S` is its local
 * transaction handle. One row per gtid, written once: `commit` by the local transaction, `rollback` by a
 * check-back that found none.
 */
export interface MessageBarrierStore<S> {
  /**
   * Runs `work` in a new local transaction that first inserts `(gtid, 'commit')`; commits when `work`
   * returns. Throws BarrierConflictError (and runs nothing) when the gtid already has a row.
   */
  runCommitted<T>(gtid: string, work: (session: S) => Promise<T>): Promise<T>;
  /**
   * Inserts `(gtid, 'rollback')` unless a row exists — waiting for a local transaction still writing
   * one — and returns the op in force.
   */
  settle(gtid: string): Promise<BarrierOp>;
}
