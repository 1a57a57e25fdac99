import { SqlExecutor } from '@hospital/platform';

/** Rows a pruning statement deletes at most: each batch is a short transaction of its own. */
export const RETENTION_BATCH = 5_000;

/**
 * Deletes the rows `candidates` selects (a `SELECT ctid FROM <table> WHERE … LIMIT $2` with `$1` the
 * retention in seconds), one batch per statement, until a batch comes back short; returns how many.
 * Locked rows are skipped (the next sweep gets them), so a prune never waits behind the protocol.
 */
async function pruneInBatches(
  db: SqlExecutor,
  table: string,
  candidates: string,
  olderThanMs: number,
  batch: number,
): Promise<number> {
  let pruned = 0;
  for (;;) {
    const rows = await db.query(
      `DELETE FROM ${table} WHERE ctid IN (${candidates} FOR UPDATE SKIP LOCKED) RETURNING 1`,
      [olderThanMs / 1000, batch],
    );
    pruned += rows.length;
    if (rows.length < batch) return pruned;
  }
}

const BEFORE_CUTOFF = (column: string): string => `${column} < clock_timestamp() - make_interval(secs => $1)`;

/**
 * Retention of the 2PC tables and of the message server's table, in the service's own database. Only
 * finished rows go; nothing here depends on how a table is keyed.
 */
export class PostgresRetention {
  constructor(private readonly db: SqlExecutor) {}

  /**
   * Deletes global transactions that finished (`committed` or `aborted`) and started and last changed
   * before the retention window. Such a record can go: `committed` is written only once every participant
   * acknowledged, so none can still ask about it, and a missing record answers `abort` (presumed abort),
   * the same as `aborted`. Unfinished ones stay whatever their age.
   */
  pruneGlobalTransactions(olderThanMs: number, batch = RETENTION_BATCH): Promise<number> {
    return pruneInBatches(
      this.db,
      'tx_global',
      `SELECT ctid FROM tx_global
        WHERE state IN ('committed', 'aborted') AND ${BEFORE_CUTOFF('created_at')}
          AND ${BEFORE_CUTOFF('updated_at')}
        LIMIT $2`,
      olderThanMs,
      batch,
    );
  }

  /**
   * Deletes a participant's branch rows older than the retention window. A `committed` row makes a repeated
   * COMMIT answer `committed`, and an `aborted` tombstone turns a prepare that arrives after its abort into
   * a NO vote; both matter only while the coordinator still drives that transaction. A coordinator
   * finishes phase two within seconds (its retries back off to a few seconds, and it is flagged in doubt
   * after `TX_IN_DOUBT_AFTER_MS`), and a prepare request lives no longer than its vote time-out, so a
   * tombstone a retention window old (a week by default) guards nothing. A branch still prepared is not
   * touched: its row belongs to the prepared transaction and is invisible here until it commits.
   */
  pruneParticipantBranches(olderThanMs: number, batch = RETENTION_BATCH): Promise<number> {
    return pruneInBatches(
      this.db,
      'tx_participant_branch',
      `SELECT ctid FROM tx_participant_branch WHERE ${BEFORE_CUTOFF('created_at')} LIMIT $2`,
      olderThanMs,
      batch,
    );
  }

  /**
   * Deletes the message server's finished two-phase messages (`delivered` or `aborted`) that started and
   * last changed before the retention window. `prepared` and `submitted` ones stay.
   */
  pruneMessages(olderThanMs: number, batch = RETENTION_BATCH): Promise<number> {
    return pruneInBatches(
      this.db,
      'tx_message',
      `SELECT ctid FROM tx_message
        WHERE state IN ('delivered', 'aborted') AND ${BEFORE_CUTOFF('created_at')}
          AND ${BEFORE_CUTOFF('updated_at')}
        LIMIT $2`,
      olderThanMs,
      batch,
    );
  }
}
