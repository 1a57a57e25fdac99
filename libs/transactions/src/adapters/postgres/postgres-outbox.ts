import { randomUUID } from 'node:crypto';
import { activeTraceparent, Database, hotStatement, Session } from '@hospital/platform';
import { newGtid } from '../../core/gtid';
import { NewOutboxEvent, OutboxClaim, OutboxMessage, OutboxStore } from '../../ports/messaging.ports';
import { OUTBOX_PARTITIONS } from './1763800000000-messaging-tables.migration';
import { PgWakeups } from './pg-wakeups';

/**
 * Appends events in one statement. Aggregates are upserted in the order given (sorted by the caller);
 * `remaining` (later events of the same aggregate in this append) turns the new last sequence into each
 * event's own.
 */
const APPEND = hotStatement(
  `WITH counts AS (
         INSERT INTO tx_outbox_aggregate AS a (aggregate_id, last_sequence)
         SELECT * FROM unnest($1::text[], $2::bigint[])
         ON CONFLICT (aggregate_id) DO UPDATE SET last_sequence = a.last_sequence + EXCLUDED.last_sequence
         RETURNING aggregate_id, last_sequence)
       INSERT INTO tx_outbox (id, partition, aggregate_id, sequence, exchange, routing_key, type, gtid, payload, traceparent)
       SELECT e.id, (hashtext(e.aggregate_id) & 2147483647) % ${OUTBOX_PARTITIONS}, e.aggregate_id,
              c.last_sequence - e.remaining, e.exchange, e.routing_key, e.type, e.gtid, e.payload, $11::text
         FROM unnest($3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[])
              WITH ORDINALITY AS e(id, aggregate_id, remaining, exchange, routing_key, type, gtid, payload, ord)
         JOIN counts c USING (aggregate_id)
        ORDER BY e.ord
       RETURNING id, position, sequence, created_at`,
);

/**
 * A pending row behind a held one of its aggregate (an earlier message the broker routed to no queue) waits
 * for it: publishing it first would break the aggregate's order. Probes the small index of held rows.
 */
const NOT_BEHIND_HELD = (row: string): string =>
  `NOT EXISTS (SELECT 1 FROM tx_outbox h
                WHERE h.published_at IS NULL AND h.retry_at IS NOT NULL
                  AND h.aggregate_id = ${row}.aggregate_id AND h.position < ${row}.position)`;

/** Searches the pending rows, so it is planned per call (see hotStatement). */
const CLAIM_PARTITIONS = `SELECT p.partition FROM tx_outbox_partition p
    WHERE p.partition IN (
      SELECT o.partition FROM tx_outbox o
       WHERE o.published_at IS NULL AND o.retry_at IS NULL AND ${NOT_BEHIND_HELD('o')}
       ORDER BY o.position LIMIT $2)
    ORDER BY random()
    LIMIT $1
    FOR UPDATE OF p SKIP LOCKED`;

const CLAIM_ROWS = `SELECT position, id, aggregate_id, sequence, exchange, routing_key, type, gtid, payload, traceparent, created_at
      FROM tx_outbox o
     WHERE o.published_at IS NULL AND o.retry_at IS NULL AND o.partition = ANY($1) AND ${NOT_BEHIND_HELD('o')}
     ORDER BY o.position
     LIMIT $2`;

/** Holds back messages the broker routed to no queue: the delay doubles with each attempt, up to a cap. */
const HOLD = `UPDATE tx_outbox o
     SET attempts = o.attempts + 1, last_error = r.reason,
         retry_at = clock_timestamp() + make_interval(secs => least($4::float8, $3::float8 * power(2, least(o.attempts, 20))))
    FROM unnest($1::text[], $2::text[]) AS r(id, reason)
   WHERE o.id = r.id AND o.published_at IS NULL`;

/** Held messages whose delay has passed go back among the pending ones. */
const RELEASE_DUE = `UPDATE tx_outbox SET retry_at = NULL WHERE published_at IS NULL AND retry_at <= clock_timestamp()`;

/** A message held back because the broker routed it to no queue, as an operator sees it (never the payload). */
export interface HeldOutboxMessage {
  id: string;
  type: string;
  exchange: string;
  routingKey: string;
  aggregateId: string;
  sequence: number;
  gtid: string;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  retryAt: Date;
}

export interface PostgresOutboxOptions {
  /** First delay before a message routed to no queue is published again, doubled per attempt (1 s). */
  unroutableRetryMs?: number;
  /** Longest such delay (30 s). */
  unroutableRetryMaxMs?: number;
}

/** The LISTEN/NOTIFY channel relays wait on. */
export const OUTBOX_CHANNEL = 'tx_outbox';

interface OutboxRow {
  position: number;
  id: string;
  aggregate_id: string;
  sequence: number;
  exchange: string;
  routing_key: string;
  type: string;
  gtid: string;
  payload: unknown;
  traceparent: string | null;
  created_at: Date;
}

/**
 * The outbox in the producer's PostgreSQL database. `append` runs in the caller's transaction and takes the
 * aggregate's row lock, so sequence order is commit order. A claim is a transaction holding ordering
 * partitions `FOR UPDATE SKIP LOCKED` until the batch is marked published (or released).
 */
export class PostgresOutbox implements OutboxStore<Session> {
  /** Something was appended since the last notify (a consumer batch that appended nothing wakes no one). */
  private appended = false;
  private readonly wakeups: PgWakeups;
  /** When held messages were last released (`RELEASE_DUE`), at most once a second. */
  private releasedAt = 0;

  constructor(
    private readonly db: Database,
    /** This service's name: the `source` of every message it publishes. */
    private readonly source: string,
    private readonly options: PostgresOutboxOptions = {},
  ) {
    this.wakeups = new PgWakeups(db, OUTBOX_CHANNEL, 'outbox-relay');
  }

  async append(session: Session, events: readonly NewOutboxEvent[]): Promise<OutboxMessage[]> {
    if (events.length === 0) return [];
    this.appended = true;
    // One statement for the whole append. Aggregates are locked in one order (sorted), so two transactions
    // appending to the same aggregates cannot deadlock; a stable sort keeps each aggregate's own order, and
    // `remaining` (later events of the same aggregate in this append) turns the new last sequence into each
    // event's own.
    const ordered = [...events]
      .map((event) => ({ ...event, id: event.id ?? randomUUID(), gtid: event.gtid ?? newGtid() }))
      .sort((a, b) => (a.aggregateId < b.aggregateId ? -1 : a.aggregateId > b.aggregateId ? 1 : 0));
    const counts = new Map<string, number>();
    for (const event of ordered) counts.set(event.aggregateId, (counts.get(event.aggregateId) ?? 0) + 1);
    const seen = new Map<string, number>();
    const remaining = ordered.map((event) => {
      const before = seen.get(event.aggregateId) ?? 0;
      seen.set(event.aggregateId, before + 1);
      return (counts.get(event.aggregateId) ?? 0) - before - 1;
    });
    // The request writing them: the consumers' spans join its trace.
    const traceparent = activeTraceparent();
    const rows = await session.query<{ id: string; position: number; sequence: number; created_at: Date }>(
      APPEND,
      [
        [...counts.keys()],
        [...counts.values()],
        ordered.map((e) => e.id),
        ordered.map((e) => e.aggregateId),
        remaining,
        ordered.map((e) => e.exchange),
        ordered.map((e) => e.routingKey),
        ordered.map((e) => e.type),
        ordered.map((e) => e.gtid),
        ordered.map((e) => JSON.stringify(e.payload)),
        traceparent ?? null,
      ],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ordered.map((event) => {
      const row = byId.get(event.id);
      if (!row) throw new Error(`outbox append lost event ${event.id}`);
      return {
        id: event.id,
        position: row.position,
        exchange: event.exchange,
        routingKey: event.routingKey,
        type: event.type,
        aggregateId: event.aggregateId,
        sequence: row.sequence,
        source: this.source,
        gtid: event.gtid,
        payload: event.payload,
        ...(traceparent === undefined ? {} : { traceparent }),
        createdAt: row.created_at,
      };
    });
  }

  async claim(limit: number): Promise<OutboxClaim | undefined> {
    if (Date.now() - this.releasedAt >= 1_000) {
      await this.db.query(RELEASE_DUE);
      this.releasedAt = Date.now();
    }
    const client = await this.db.pool.connect();
    let open = true;
    const end = async (sql: 'COMMIT' | 'ROLLBACK', failed = false): Promise<void> => {
      if (!open) return;
      open = false;
      try {
        await client.query(sql);
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        client.release(failed);
      }
    };
    try {
      // Marks need not wait for the WAL flush: a lost mark only means the batch is published again.
      await client.query('BEGIN; SET LOCAL synchronous_commit = off');
      // At most half the partitions that have pending messages (among the oldest few batches' worth), so two
      // claims (two relays, or two rounds of one relay) can publish side by side.
      const partitions = await client.query<{ partition: number }>(CLAIM_PARTITIONS, [
        Math.ceil(OUTBOX_PARTITIONS / 2),
        limit * 4,
      ]);
      if (partitions.rows.length === 0) {
        await end('COMMIT');
        return undefined;
      }
      const rows = await client.query<OutboxRow>(CLAIM_ROWS, [
        partitions.rows.map((p) => p.partition),
        limit,
      ]);
      if (rows.rows.length === 0) {
        await end('COMMIT');
        return undefined;
      }
      const messages = rows.rows.map((row) => this.toMessage(row));
      return {
        messages,
        complete: async (publishedIds, unroutable = []) => {
          try {
            await client.query('UPDATE tx_outbox SET published_at = clock_timestamp() WHERE id = ANY($1)', [
              publishedIds,
            ]);
            if (unroutable.length > 0)
              await client.query(HOLD, [
                unroutable.map((u) => u.id),
                unroutable.map((u) => u.reason),
                (this.options.unroutableRetryMs ?? 1_000) / 1000,
                (this.options.unroutableRetryMaxMs ?? 30_000) / 1000,
              ]);
          } catch (error) {
            await end('ROLLBACK', true).catch(() => undefined);
            throw error;
          }
          await end('COMMIT');
        },
        release: () => end('ROLLBACK'),
      };
    } catch (error) {
      await end('ROLLBACK', true).catch(() => undefined);
      throw error;
    }
  }

  private toMessage(row: OutboxRow): OutboxMessage {
    return {
      id: row.id,
      position: row.position,
      exchange: row.exchange,
      routingKey: row.routing_key,
      type: row.type,
      aggregateId: row.aggregate_id,
      sequence: row.sequence,
      source: this.source,
      gtid: row.gtid,
      payload: row.payload,
      ...(row.traceparent === null ? {} : { traceparent: row.traceparent }),
      createdAt: row.created_at,
    };
  }

  /**
   * Pending count (held ones included) and the age of the oldest pending message, for `/metrics`; `held`
   * of them the broker routed to no queue, waiting to be published again.
   */
  async backlog(): Promise<{ pending: number; oldestAgeMs: number; held: number }> {
    const [row] = await this.db.query<{ pending: number; held: number; oldest_ms: number | null }>(
      // One aggregate per partial index (pending, held), so neither scans the published rows.
      `WITH ready AS (SELECT count(*)::int AS n, min(created_at) AS oldest
                        FROM tx_outbox WHERE published_at IS NULL AND retry_at IS NULL),
            held AS (SELECT count(*)::int AS n, min(created_at) AS oldest
                       FROM tx_outbox WHERE published_at IS NULL AND retry_at IS NOT NULL)
       SELECT ready.n + held.n AS pending, held.n AS held,
              (extract(epoch FROM clock_timestamp() - least(ready.oldest, held.oldest)) * 1000)::float8 AS oldest_ms
         FROM ready, held`,
    );
    return { pending: row.pending, oldestAgeMs: row.oldest_ms ?? 0, held: row.held };
  }

  /** Up to `limit` messages held back because the broker routed them to no queue, oldest first. */
  async held(limit: number): Promise<HeldOutboxMessage[]> {
    const rows = await this.db.query<{
      id: string;
      type: string;
      exchange: string;
      routing_key: string;
      aggregate_id: string;
      sequence: number;
      gtid: string;
      attempts: number;
      last_error: string | null;
      created_at: Date;
      retry_at: Date;
    }>(
      `SELECT id, type, exchange, routing_key, aggregate_id, sequence, gtid, attempts, last_error, created_at, retry_at
         FROM tx_outbox WHERE published_at IS NULL AND retry_at IS NOT NULL
        ORDER BY position LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      id: r.id,
      type: r.type,
      exchange: r.exchange,
      routingKey: r.routing_key,
      aggregateId: r.aggregate_id,
      sequence: Number(r.sequence),
      gtid: r.gtid,
      attempts: r.attempts,
      lastError: r.last_error,
      createdAt: r.created_at,
      retryAt: r.retry_at,
    }));
  }

  /** Publishes every held message again at once (after a queue was bound, say); returns how many. */
  async retryHeld(): Promise<number> {
    const rows = await this.db.query(
      'UPDATE tx_outbox SET retry_at = NULL WHERE published_at IS NULL AND retry_at IS NOT NULL RETURNING 1',
    );
    if (rows.length > 0) {
      this.appended = true;
      this.notify();
    }
    return rows.length;
  }

  /**
   * Deletes published messages older than `olderThanMs`, `batch` rows a statement (short transactions
   * beside the relays' own); returns how many.
   */
  async prune(olderThanMs: number, batch = 5_000): Promise<number> {
    let pruned = 0;
    for (;;) {
      // Below the oldest pending position (held ones included) every row is published: walk the
      // primary key up to it.
      const rows = await this.db.query(
        `DELETE FROM tx_outbox WHERE position IN (
           SELECT position FROM tx_outbox
            WHERE position < coalesce(least(
                    (SELECT min(position) FROM tx_outbox WHERE published_at IS NULL AND retry_at IS NULL),
                    (SELECT min(position) FROM tx_outbox WHERE published_at IS NULL AND retry_at IS NOT NULL)),
                  9223372036854775807)
              AND published_at < clock_timestamp() - make_interval(secs => $1)
            ORDER BY position LIMIT $2)
         RETURNING 1`,
        [olderThanMs / 1000, batch],
      );
      pruned += rows.length;
      if (rows.length < batch) return pruned;
    }
  }

  /**
   * Vacuums the outbox. Marking a message published leaves its old row version in the pending index until
   * a vacuum; claims scan the pending index from its oldest end, so between autovacuum rounds (a minute
   * apart at best) every claim would step over all that was published since. Skips if a vacuum runs.
   */
  async vacuum(): Promise<void> {
    await this.db.query('VACUUM (SKIP_LOCKED) tx_outbox');
  }

  /**
   * Tells relays that messages were committed: at once to a relay in this process, and through one
   * coalesced NOTIFY (outside any transaction, so commits never queue on the notification lock) to others.
   */
  notify(): void {
    if (!this.appended) return;
    this.appended = false;
    this.wakeups.notify();
  }

  waitForMessages(timeoutMs: number): Promise<void> {
    return this.wakeups.wait(timeoutMs);
  }

  close(): Promise<void> {
    return this.wakeups.close();
  }
}
