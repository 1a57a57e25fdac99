import { hotStatement, Session, SqlExecutor } from '@hospital/platform';
import { InboxEntry, InboxOutcome, InboxStore } from '../../ports/messaging.ports';

// Lookups in growing tables: planned per call (see hotStatement).
const SEEN = 'SELECT message_id, outcome FROM tx_inbox WHERE consumer = $1 AND message_id = ANY($2)';
const LOCK_CURSORS = `SELECT aggregate_id, last_sequence FROM tx_inbox_cursor
    WHERE consumer = $1 AND aggregate_id = ANY($2)
    ORDER BY aggregate_id FOR UPDATE`;
const RECORD = hotStatement(
  `INSERT INTO tx_inbox (consumer, message_id, outcome, reason)
   SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[])`,
);
const MOVE_CURSORS = hotStatement(
  `INSERT INTO tx_inbox_cursor (consumer, aggregate_id, last_sequence)
   SELECT $1, * FROM unnest($2::text[], $3::bigint[])
   ON CONFLICT (consumer, aggregate_id)
   DO UPDATE SET last_sequence = GREATEST(tx_inbox_cursor.last_sequence, EXCLUDED.last_sequence)`,
);

/** The consumer's inbox in its own PostgreSQL database, written in the same transaction as the effect. */
export class PostgresInbox implements InboxStore<Session> {
  async seen(session: Session, consumer: string, ids: readonly string[]): Promise<Map<string, InboxOutcome>> {
    if (ids.length === 0) return new Map();
    const rows = await session.query<{ message_id: string; outcome: InboxOutcome }>(SEEN, [consumer, ids]);
    return new Map(rows.map((r) => [r.message_id, r.outcome]));
  }

  async lockCursors(
    session: Session,
    consumer: string,
    keys: readonly string[],
  ): Promise<Map<string, number>> {
    if (keys.length === 0) return new Map();
    const rows = await session.query<{ aggregate_id: string; last_sequence: number }>(LOCK_CURSORS, [
      consumer,
      [...keys].sort(),
    ]);
    return new Map(rows.map((r) => [r.aggregate_id, r.last_sequence]));
  }

  async record(
    session: Session,
    consumer: string,
    entries: readonly InboxEntry[],
    cursors: ReadonlyMap<string, number>,
  ): Promise<void> {
    const fresh = entries.filter((e) => !e.replacing);
    if (fresh.length > 0) {
      // A plain insert: a concurrent consumer that applied the same message makes this one fail and retry.
      await session.query(RECORD, [
        consumer,
        fresh.map((e) => e.messageId),
        fresh.map((e) => e.outcome),
        fresh.map((e) => e.reason ?? null),
      ]);
    }
    for (const entry of entries.filter((e) => e.replacing)) {
      // A replayed dead letter taken by two consumers at once: the second waits on the row, then finds it
      // decided. Failing here rolls its effect back; its redelivery is then a duplicate.
      const replaced = await session.query(
        `UPDATE tx_inbox SET outcome = $3, reason = $4, received_at = now()
          WHERE consumer = $1 AND message_id = $2 AND outcome = 'dead-lettered'
         RETURNING 1`,
        [consumer, entry.messageId, entry.outcome, entry.reason ?? null],
      );
      if (replaced.length === 0) {
        throw new Error(`message ${entry.messageId} was decided by another consumer meanwhile`);
      }
    }
    if (cursors.size > 0) {
      const keys = [...cursors.keys()].sort();
      await session.query(MOVE_CURSORS, [consumer, keys, keys.map((k) => cursors.get(k))]);
    }
  }

  /**
   * Deletes the inbox rows of `consumers` decided more than `olderThanMs` ago, `batch` rows a statement
   * (short transactions beside the consumers' own); returns how many. Cursors stay.
   */
  async prune(
    db: SqlExecutor,
    consumers: readonly string[],
    olderThanMs: number,
    batch = 10_000,
  ): Promise<number> {
    let pruned = 0;
    for (;;) {
      const rows = await db.query(
        `DELETE FROM tx_inbox WHERE ctid IN (
           SELECT ctid FROM tx_inbox
            WHERE consumer = ANY($1) AND received_at < clock_timestamp() - make_interval(secs => $2)
            LIMIT $3)
         RETURNING 1`,
        [consumers, olderThanMs / 1000, batch],
      );
      pruned += rows.length;
      if (rows.length < batch) return pruned;
    }
  }
}
