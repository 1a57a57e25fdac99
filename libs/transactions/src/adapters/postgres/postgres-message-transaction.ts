import { activeTraceparent, Database, Session } from '@hospital/platform';
import { ListedTransaction, TransactionBrowser, TransactionQuery } from '../../ports/global-transaction';
import {
  BarrierConflictError,
  BarrierOp,
  MessageBarrierStore,
  MessageQuery,
  MessageRecord,
  MessageServerStore,
  MessageState,
  PreparedMessage,
  PrepareResult,
  SubmitClaim,
} from '../../ports/message-transaction.ports';

interface Row {
  gtid: string;
  message_id: string;
  producer: string;
  check_back_url: string;
  exchange: string;
  routing_key: string;
  type: string;
  aggregate_id: string;
  payload: unknown;
  state: MessageState;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  next_check_at: Date | null;
  traceparent: string | null;
}

const toRecord = (row: Row): MessageRecord => ({
  gtid: row.gtid,
  id: row.message_id,
  producer: row.producer,
  checkBackUrl: row.check_back_url,
  exchange: row.exchange,
  routingKey: row.routing_key,
  type: row.type,
  aggregateId: row.aggregate_id,
  payload: row.payload,
  state: row.state,
  attempts: row.attempts,
  ...(row.last_error === null ? {} : { lastError: row.last_error }),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  ...(row.next_check_at === null ? {} : { nextCheckAt: row.next_check_at }),
  ...(row.traceparent === null ? {} : { traceparent: row.traceparent }),
});

const MS = `* interval '1 millisecond'`;

/**
 * The two-phase message server's table `tx_message` in the server's own database. Transitions are guarded
 * by the row's state in the UPDATE itself, so concurrent submits, aborts and recovery steps on several
 * replicas serialise on the row; recovery claims rows with `FOR UPDATE SKIP LOCKED`.
 */
export class PostgresMessageServerStore implements MessageServerStore {
  constructor(private readonly db: Database) {}

  async prepare(message: PreparedMessage, checkBackAfterMs: number): Promise<PrepareResult> {
    // Durable before the producer runs its local transaction: a lost prepare would lose the message.
    const [inserted] = await this.db.query<Row>(
      `INSERT INTO tx_message (gtid, message_id, producer, check_back_url, exchange, routing_key, type,
                               aggregate_id, payload, state, next_check_at, traceparent)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, 'prepared', now() + $10 ${MS}, $11)
       ON CONFLICT (gtid) DO NOTHING
       RETURNING *`,
      [
        message.gtid,
        message.id,
        message.producer,
        message.checkBackUrl,
        message.exchange,
        message.routingKey,
        message.type,
        message.aggregateId,
        JSON.stringify(message.payload),
        checkBackAfterMs,
        // The producer's prepare request: its trace goes on with the message.
        activeTraceparent() ?? null,
      ],
    );
    if (inserted) return { record: toRecord(inserted), created: true };
    const existing = await this.get(message.gtid);
    if (!existing) throw new Error(`message ${message.gtid} neither inserted nor found`);
    return { record: existing, created: false };
  }

  async claimSubmit(gtid: string, leaseMs: number): Promise<SubmitClaim> {
    const [claimed] = await this.db.query<Row>(
      `UPDATE tx_message
          SET state = 'submitted', next_check_at = now() + $2 ${MS}, updated_at = now()
        WHERE gtid = $1 AND (state = 'prepared' OR (state = 'submitted' AND next_check_at <= now()))
        RETURNING *`,
      [gtid, leaseMs],
    );
    if (claimed) return { record: toRecord(claimed), publish: true };
    const record = await this.get(gtid);
    return record ? { record, publish: false } : { publish: false };
  }

  async markDelivered(gtid: string): Promise<void> {
    // Bookkeeping: losing it costs one more publish of the same message id, never a lost message.
    await this.db.queryRelaxed(
      `UPDATE tx_message SET state = 'delivered', next_check_at = NULL, updated_at = now()
        WHERE gtid = $1 AND state = 'submitted'`,
      [gtid],
    );
  }

  async markAborted(gtid: string, reason: string): Promise<{ record?: MessageRecord; changed: boolean }> {
    const [aborted] = await this.db.query<Row>(
      `UPDATE tx_message SET state = 'aborted', last_error = $2, next_check_at = NULL, updated_at = now()
        WHERE gtid = $1 AND state = 'prepared'
        RETURNING *`,
      [gtid, reason.slice(0, 500)],
    );
    if (aborted) return { record: toRecord(aborted), changed: true };
    const record = await this.get(gtid);
    return record ? { record, changed: false } : { changed: false };
  }

  async noteRetry(gtid: string, error: string, retryAfterMs: number): Promise<void> {
    await this.db.query(
      `UPDATE tx_message
          SET attempts = attempts + 1, last_error = $2, next_check_at = now() + $3 ${MS}, updated_at = now()
        WHERE gtid = $1 AND state IN ('prepared', 'submitted')`,
      [gtid, error.slice(0, 500), retryAfterMs],
    );
  }

  async claimDue(limit: number, leaseMs: number): Promise<MessageRecord[]> {
    const rows = await this.db.query<Row>(
      `UPDATE tx_message SET next_check_at = now() + $2 ${MS}
        WHERE gtid IN (
          SELECT gtid FROM tx_message
           WHERE state IN ('prepared', 'submitted') AND next_check_at <= now()
           ORDER BY next_check_at LIMIT $1
           FOR UPDATE SKIP LOCKED)
        RETURNING *`,
      [limit, leaseMs],
    );
    return rows.map(toRecord);
  }

  async get(gtid: string): Promise<MessageRecord | undefined> {
    const [row] = await this.db.query<Row>('SELECT * FROM tx_message WHERE gtid = $1', [gtid]);
    return row ? toRecord(row) : undefined;
  }

  async list(query: MessageQuery): Promise<MessageRecord[]> {
    const rows = await this.db.query<Row>(
      `SELECT * FROM tx_message
        WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR producer = $2)
          AND ($3::timestamptz IS NULL OR created_at < $3)
        ORDER BY created_at DESC LIMIT $4`,
      [query.state ?? null, query.producer ?? null, query.before ?? null, query.limit],
    );
    return rows.map(toRecord);
  }
}

/** What `/api/transactions` reads of a message: never its payload (patient data). */
type BrowsedRow = Pick<
  Row,
  | 'gtid'
  | 'producer'
  | 'exchange'
  | 'routing_key'
  | 'type'
  | 'state'
  | 'attempts'
  | 'last_error'
  | 'created_at'
  | 'updated_at'
>;

const BROWSED_COLUMNS =
  'gtid, producer, exchange, routing_key, type, state, attempts, last_error, created_at, updated_at';

/** The producer's local transaction, as far as the server knows it in each state of the message. */
const PRODUCER_STATES: Record<MessageState, string> = {
  prepared: 'pending',
  submitted: 'committed',
  delivered: 'committed',
  aborted: 'aborted',
};

/** The message at the broker in each state. */
const BROKER_STATES: Record<MessageState, string> = {
  prepared: 'pending',
  submitted: 'publishing',
  delivered: 'delivered',
  aborted: 'not published',
};

function messageTimeline(row: BrowsedRow): { at: string; event: string }[] {
  const prepared = {
    at: row.created_at.toISOString(),
    event: `prepared by ${row.producer}: ${row.type} for ${row.exchange} ${row.routing_key}`,
  };
  const retried = row.attempts === 0 ? '' : ` after ${row.attempts} retried call(s)`;
  // The row keeps its last change only: the instant of that change, and what the state and count say.
  const last: Record<MessageState, string> = {
    prepared: `check-back failed ${row.attempts} time(s); still prepared`,
    submitted: `submitted; publishing${retried}`,
    delivered: `delivered${retried}`,
    aborted: `aborted${retried}${row.last_error === null ? '' : `: ${row.last_error}`}`,
  };
  if (row.state === 'prepared' && row.attempts === 0) return [prepared];
  return [prepared, { at: row.updated_at.toISOString(), event: last[row.state] }];
}

const toListed = (row: BrowsedRow): ListedTransaction => ({
  gtid: row.gtid,
  style: 'message',
  state: row.state,
  branches: [
    { participant: row.producer, state: PRODUCER_STATES[row.state] },
    { participant: row.exchange, step: row.routing_key, state: BROKER_STATES[row.state] },
  ],
  timeline: messageTimeline(row),
  retries: row.attempts,
  ...(row.last_error === null ? {} : { lastError: row.last_error }),
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

/**
 * The message server's table as `/api/transactions` lists it (style `message`): the message's state
 * (`prepared`, `submitted`, `delivered`, `aborted`), two branches — the producer's local transaction
 * (`pending`, `committed`, `aborted`) and the message at the broker's exchange (`pending`, `publishing`,
 * `delivered`, `not published`) — and the timeline the row can tell: prepared, then its last change (the
 * row keeps one instant of it) with the retried check-backs and publishes. Messages carry no correlation
 * id: a query by one lists none. Filtered and limited in SQL (`tx_message_created`).
 */
export class PostgresMessageBrowser implements TransactionBrowser {
  constructor(private readonly db: Database) {}

  async list(query: TransactionQuery): Promise<ListedTransaction[]> {
    if (query.style !== undefined && query.style !== 'message') return [];
    if (query.correlationId !== undefined) return [];
    const rows = await this.db.query<BrowsedRow>(
      `SELECT ${BROWSED_COLUMNS} FROM tx_message
        WHERE ($1::text IS NULL OR state = $1) AND ($2::timestamptz IS NULL OR created_at < $2)
        ORDER BY created_at DESC LIMIT $3`,
      [query.state ?? null, query.before ?? null, query.limit],
    );
    return rows.map(toListed);
  }

  async get(gtid: string): Promise<ListedTransaction | undefined> {
    const [row] = await this.db.query<BrowsedRow>(
      `SELECT ${BROWSED_COLUMNS} FROM tx_message WHERE gtid = $1`,
      [gtid],
    );
    return row && toListed(row);
  }
}

/**
 * A producer's barrier table `tx_message_barrier`. The local transaction inserts `commit` first thing, so
 * a check-back's `rollback` insert on the same key waits for it and then finds the row if it committed.
 */
export class PostgresMessageBarrierStore implements MessageBarrierStore<Session> {
  constructor(private readonly db: Database) {}

  runCommitted<T>(gtid: string, work: (session: Session) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      const inserted = await tx.query(
        `INSERT INTO tx_message_barrier (gtid, op) VALUES ($1, 'commit') ON CONFLICT (gtid) DO NOTHING RETURNING op`,
        [gtid],
      );
      if (inserted.length === 0) {
        const [row] = await tx.query<{ op: BarrierOp }>('SELECT op FROM tx_message_barrier WHERE gtid = $1', [
          gtid,
        ]);
        throw new BarrierConflictError(gtid, row?.op ?? 'rollback');
      }
      return work(tx);
    });
  }

  async settle(gtid: string): Promise<BarrierOp> {
    // Two statements: the SELECT takes a new snapshot, so it sees a 'commit' row whose transaction the
    // INSERT had to wait for.
    await this.db.query(
      `INSERT INTO tx_message_barrier (gtid, op) VALUES ($1, 'rollback') ON CONFLICT (gtid) DO NOTHING`,
      [gtid],
    );
    const [row] = await this.db.query<{ op: BarrierOp }>(
      'SELECT op FROM tx_message_barrier WHERE gtid = $1',
      [gtid],
    );
    if (!row) throw new Error(`barrier row of ${gtid} neither inserted nor found`);
    return row.op;
  }

  /**
   * Deletes barrier rows older than `olderThanMs`, `batch` rows a statement (short transactions beside the
   * producer's own); returns how many. Safe only when no message of theirs can still be checked back: keep
   * it far beyond the server's check-back back-off (see the README).
   */
  async prune(olderThanMs: number, batch = 5_000): Promise<number> {
    let pruned = 0;
    for (;;) {
      const rows = await this.db.query(
        `DELETE FROM tx_message_barrier WHERE ctid IN (
           SELECT ctid FROM tx_message_barrier WHERE created_at < now() - $1 ${MS} LIMIT $2
           FOR UPDATE SKIP LOCKED)
         RETURNING 1`,
        [olderThanMs, batch],
      );
      pruned += rows.length;
      if (rows.length < batch) return pruned;
    }
  }
}
