import { Clock, systemClock } from '../core/clock';
import { MessagePublisher, OutboundMessage } from '../ports/messaging.ports';
import {
  BarrierConflictError,
  BarrierOp,
  CheckBackClient,
  MessageBarrierStore,
  MessageOutcome,
  MessageQuery,
  MessageRecord,
  MessageServerClient,
  MessageServerStore,
  MessageState,
  PreparedMessage,
  PrepareResult,
  ProducedMessage,
  SubmitClaim,
} from '../ports/message-transaction.ports';
import { MemoryDatabase, MemoryTx } from './memory-database';

const copy = (record: MessageRecord): MessageRecord => ({ ...record });

/** `PostgresMessageServerStore` in memory: the same transitions, leases and due times, on a `Clock`. */
export class InMemoryMessageServerStore implements MessageServerStore {
  readonly rows = new Map<string, MessageRecord>();

  constructor(private readonly clock: Clock = systemClock) {}

  private now(): Date {
    return new Date(this.clock.now());
  }

  private later(ms: number): Date {
    return new Date(this.clock.now() + ms);
  }

  prepare(message: PreparedMessage, checkBackAfterMs: number): Promise<PrepareResult> {
    const existing = this.rows.get(message.gtid);
    if (existing) return Promise.resolve({ record: copy(existing), created: false });
    const record: MessageRecord = {
      ...message,
      state: 'prepared',
      attempts: 0,
      createdAt: this.now(),
      updatedAt: this.now(),
      nextCheckAt: this.later(checkBackAfterMs),
    };
    this.rows.set(message.gtid, record);
    return Promise.resolve({ record: copy(record), created: true });
  }

  claimSubmit(gtid: string, leaseMs: number): Promise<SubmitClaim> {
    const row = this.rows.get(gtid);
    if (!row) return Promise.resolve({ publish: false });
    const leaseExpired =
      row.state === 'submitted' && row.nextCheckAt !== undefined && row.nextCheckAt <= this.now();
    if (row.state === 'prepared' || leaseExpired) {
      row.state = 'submitted';
      row.nextCheckAt = this.later(leaseMs);
      row.updatedAt = this.now();
      return Promise.resolve({ record: copy(row), publish: true });
    }
    return Promise.resolve({ record: copy(row), publish: false });
  }

  markDelivered(gtid: string): Promise<void> {
    const row = this.rows.get(gtid);
    if (row?.state === 'submitted') {
      row.state = 'delivered';
      row.nextCheckAt = undefined;
      row.updatedAt = this.now();
    }
    return Promise.resolve();
  }

  markAborted(gtid: string, reason: string): Promise<{ record?: MessageRecord; changed: boolean }> {
    const row = this.rows.get(gtid);
    if (!row) return Promise.resolve({ changed: false });
    if (row.state !== 'prepared') return Promise.resolve({ record: copy(row), changed: false });
    row.state = 'aborted';
    row.lastError = reason;
    row.nextCheckAt = undefined;
    row.updatedAt = this.now();
    return Promise.resolve({ record: copy(row), changed: true });
  }

  noteRetry(gtid: string, error: string, retryAfterMs: number): Promise<void> {
    const row = this.rows.get(gtid);
    if (row && (row.state === 'prepared' || row.state === 'submitted')) {
      row.attempts += 1;
      row.lastError = error;
      row.nextCheckAt = this.later(retryAfterMs);
      row.updatedAt = this.now();
    }
    return Promise.resolve();
  }

  claimDue(limit: number, leaseMs: number): Promise<MessageRecord[]> {
    const now = this.now();
    const due = [...this.rows.values()]
      .filter(
        (r) =>
          (r.state === 'prepared' || r.state === 'submitted') &&
          r.nextCheckAt !== undefined &&
          r.nextCheckAt <= now,
      )
      .sort((a, b) => (a.nextCheckAt?.getTime() ?? 0) - (b.nextCheckAt?.getTime() ?? 0))
      .slice(0, limit);
    for (const row of due) row.nextCheckAt = this.later(leaseMs);
    return Promise.resolve(due.map(copy));
  }

  get(gtid: string): Promise<MessageRecord | undefined> {
    const row = this.rows.get(gtid);
    return Promise.resolve(row ? copy(row) : undefined);
  }

  list(query: MessageQuery): Promise<MessageRecord[]> {
    const before = query.before === undefined ? undefined : new Date(query.before);
    return Promise.resolve(
      [...this.rows.values()]
        .filter((r) => query.state === undefined || r.state === query.state)
        .filter((r) => query.producer === undefined || r.producer === query.producer)
        .filter((r) => before === undefined || r.createdAt < before)
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
        .slice(0, query.limit)
        .map(copy),
    );
  }
}

/**
 * `PostgresMessageBarrierStore` in memory, over a `MemoryDatabase` of the producer's own rows. Like the
 * unique key in PostgreSQL, a settle waits for a local transaction of the same gtid still in flight.
 */
export class InMemoryBarrierStore implements MessageBarrierStore<MemoryTx> {
  /** The producer's own rows, written by the local work. */
  readonly database = new MemoryDatabase();
  /** The barrier table; its rows commit atomically with the local work's rows. */
  readonly barrier = new Map<string, BarrierOp>();
  /** Local transactions in flight, by gtid: a settle waits for them like an insert on a locked key. */
  private readonly inFlight = new Map<string, Promise<void>>();

  op(gtid: string): BarrierOp | undefined {
    return this.barrier.get(gtid);
  }

  async runCommitted<T>(gtid: string, work: (session: MemoryTx) => Promise<T>): Promise<T> {
    await this.inFlight.get(gtid);
    const existing = this.op(gtid);
    if (existing) throw new BarrierConflictError(gtid, existing);
    let done!: () => void;
    this.inFlight.set(
      gtid,
      new Promise<void>((resolve) => {
        done = resolve;
      }),
    );
    try {
      const tx = this.database.begin();
      const result = await work(tx);
      // Commit: the barrier row and the work's rows in one step.
      this.barrier.set(gtid, 'commit');
      this.database.apply(tx.writeSet);
      return result;
    } finally {
      this.inFlight.delete(gtid);
      done();
    }
  }

  async settle(gtid: string): Promise<BarrierOp> {
    await this.inFlight.get(gtid);
    const existing = this.op(gtid);
    if (existing) return existing;
    this.barrier.set(gtid, 'rollback');
    return 'rollback';
  }
}

/** A broker that records what it confirmed; `failNext` makes the next publishes go unconfirmed. */
export class RecordingPublisher implements MessagePublisher {
  readonly published: OutboundMessage[] = [];
  failNext = 0;

  publish(messages: readonly OutboundMessage[]): Promise<void> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      return Promise.reject(new Error('broker did not confirm'));
    }
    this.published.push(...messages);
    return Promise.resolve();
  }

  /** How many times a message with this id was confirmed. */
  count(id: string): number {
    return this.published.filter((m) => m.id === id).length;
  }
}

/** The server core called in-process, as the producer's HTTP client would; `reachable` false refuses. */
export class DirectServerClient implements MessageServerClient {
  reachable = true;
  readonly calls: string[] = [];

  constructor(
    private readonly server: {
      prepare(message: PreparedMessage): Promise<MessageState>;
      submit(gtid: string): Promise<MessageState>;
      abort(gtid: string): Promise<MessageState>;
    },
  ) {}

  private guard(call: string): void {
    this.calls.push(call);
    if (!this.reachable) throw new Error('connection to the message server refused');
  }

  async prepare(message: ProducedMessage): Promise<MessageState> {
    this.guard(`prepare ${message.gtid}`);
    // In services the server's HTTP route adds the producer's configured address; here there is none.
    return this.server.prepare({ ...message, checkBackUrl: `in-process://${message.producer}` });
  }

  async submit(gtid: string): Promise<MessageState> {
    this.guard(`submit ${gtid}`);
    return this.server.submit(gtid);
  }

  async abort(gtid: string): Promise<MessageState> {
    this.guard(`abort ${gtid}`);
    return this.server.abort(gtid);
  }
}

/** Check-backs delivered in-process to producers by name; a producer absent or marked down is unreachable. */
export class DirectCheckBackClient implements CheckBackClient {
  readonly producers = new Map<string, { outcome(gtid: string): Promise<MessageOutcome> }>();
  readonly down = new Set<string>();
  readonly asked: string[] = [];

  async outcome(message: Pick<MessageRecord, 'gtid' | 'producer'>): Promise<MessageOutcome> {
    this.asked.push(message.gtid);
    const producer = this.producers.get(message.producer);
    if (!producer || this.down.has(message.producer))
      throw new Error(`connection to ${message.producer} refused`);
    return producer.outcome(message.gtid);
  }
}
