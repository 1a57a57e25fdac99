import { Database, SqlExecutor } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  MessageBarrierTable1763800000200,
  MessageServerTables1763800000100,
  MessageTraceContext1766600000200,
  MessagingTables1763800000000,
  newGtid,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  PostgresMessageBarrierStore,
  PostgresOutbox,
  PostgresRetention,
  transactionLogMigrations,
} from '@hospital/transactions';

/**
 * Retention against the real PostgreSQL: only finished rows older than the window go, in batches of a
 * bounded size (each its own short statement), and a row someone holds is skipped rather than waited for.
 */
jest.setTimeout(30_000);

const HOUR = 3_600_000;

/** The database, remembering how many rows each statement touched. */
class CountingExecutor implements SqlExecutor {
  readonly deleted: number[] = [];
  constructor(private readonly db: Database) {}
  async query<T = Record<string, unknown>>(sql: string, parameters?: unknown[]): Promise<T[]> {
    const rows = await this.db.query<T>(sql, parameters);
    if (sql.trimStart().startsWith('DELETE')) this.deleted.push(rows.length);
    return rows;
  }
}

describe('retention of finished transaction rows', () => {
  let db: Database;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const created = await createTestDatabase('txretention', [
      ...transactionLogMigrations,
      MessagingTables1763800000000,
      OutboxLeanIndexes1763800000300,
      OutboxUnroutable1763800000400,
      OutboxTraceContext1766600000000,
      MessageServerTables1763800000100,
      MessageTraceContext1766600000200,
      MessageBarrierTable1763800000200,
    ]);
    db = new Database(created.settings, 'retention-test');
    drop = created.drop;
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  const globals = async (states: string[], age: string): Promise<string[]> => {
    const gtids = states.map(() => newGtid());
    await db.query(
      `INSERT INTO tx_global (gtid, style, state, created_at, updated_at)
       SELECT g, '2pc', s, now() - $3::interval, now() - $3::interval FROM unnest($1::text[], $2::text[]) AS t(g, s)`,
      [gtids, states, age],
    );
    return gtids;
  };
  const present = async (table: string, gtids: string[]): Promise<string[]> =>
    (await db.query<{ gtid: string }>(`SELECT gtid FROM ${table} WHERE gtid = ANY($1)`, [gtids]))
      .map((r) => r.gtid)
      .sort();

  it('deletes only committed and aborted global transactions older than the window, in batches', async () => {
    const finished = await globals(['committed', 'aborted', 'committed', 'aborted', 'committed'], '3 hours');
    const unfinished = await globals(['preparing', 'committing', 'aborting'], '3 hours');
    const young = await globals(['committed', 'aborted'], '10 minutes');
    // Started long ago, finished only now: kept for the whole window after its last change.
    const [lateFinish] = await globals(['committed'], '3 hours');
    await db.query(`UPDATE tx_global SET updated_at = now() WHERE gtid = $1`, [lateFinish]);

    const counting = new CountingExecutor(db);
    expect(await new PostgresRetention(counting).pruneGlobalTransactions(2 * HOUR, 2)).toBe(5);
    expect(counting.deleted).toEqual([2, 2, 1]);
    expect(await present('tx_global', finished)).toEqual([]);
    expect(await present('tx_global', [...unfinished, ...young, lateFinish])).toEqual(
      [...unfinished, ...young, lateFinish].sort(),
    );
  });

  it('skips a finished row another transaction holds instead of waiting for it', async () => {
    const [held, free] = await globals(['committed', 'committed'], '3 hours');
    // Without SKIP LOCKED the prune would wait on the held row for as long as the test runs.
    await db.withSession(async (session) => {
      await session.query('BEGIN');
      await session.query('SELECT 1 FROM tx_global WHERE gtid = $1 FOR UPDATE', [held]);
      try {
        const started = Date.now();
        expect(await new PostgresRetention(db).pruneGlobalTransactions(2 * HOUR)).toBe(1);
        expect(Date.now() - started).toBeLessThan(2_000);
      } finally {
        await session.query('ROLLBACK');
      }
    });
    expect(await present('tx_global', [held, free])).toEqual([held]);
    expect(await new PostgresRetention(db).pruneGlobalTransactions(2 * HOUR)).toBe(1);
  });

  it('deletes participant branch rows older than the window, whatever their state', async () => {
    const [oldCommitted, oldAborted, young] = [newGtid(), newGtid(), newGtid()];
    await db.query(
      `INSERT INTO tx_participant_branch (gtid, coordinator, state, created_at) VALUES
         ($1, 'emr', 'committed', now() - interval '3 hours'),
         ($2, 'emr', 'aborted', now() - interval '3 hours'),
         ($3, 'emr', 'committed', now() - interval '1 hour')`,
      [oldCommitted, oldAborted, young],
    );
    const counting = new CountingExecutor(db);
    expect(await new PostgresRetention(counting).pruneParticipantBranches(2 * HOUR, 1)).toBe(2);
    expect(counting.deleted).toEqual([1, 1, 0]);
    expect(await present('tx_participant_branch', [oldCommitted, oldAborted, young])).toEqual([young]);
  });

  it('deletes delivered and aborted two-phase messages older than the window, and keeps unfinished ones', async () => {
    const states = ['delivered', 'aborted', 'prepared', 'submitted', 'delivered'];
    const gtids = states.map(() => newGtid());
    await db.query(
      `INSERT INTO tx_message (gtid, message_id, producer, check_back_url, exchange, routing_key, type, aggregate_id,
                               payload, state, created_at, updated_at)
       SELECT g, g, 'supply-chain', 'http://127.0.0.1:1', 'x', 'k', 't', 'a', '{}', s,
              now() - CASE WHEN ord = 5 THEN interval '1 minute' ELSE interval '3 hours' END,
              now() - CASE WHEN ord = 5 THEN interval '1 minute' ELSE interval '3 hours' END
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(g, s, ord)`,
      [gtids, states],
    );
    const counting = new CountingExecutor(db);
    expect(await new PostgresRetention(counting).pruneMessages(2 * HOUR, 1)).toBe(2);
    expect(counting.deleted).toEqual([1, 1, 0]);
    expect(await present('tx_message', gtids)).toEqual([gtids[2], gtids[3], gtids[4]].sort());
  });

  it('prunes barrier rows and published outbox rows in batches', async () => {
    const barriers = [newGtid(), newGtid(), newGtid()];
    await db.query(
      `INSERT INTO tx_message_barrier (gtid, op, created_at)
       SELECT g, 'commit', now() - CASE WHEN ord = 3 THEN interval '1 minute' ELSE interval '3 hours' END
         FROM unnest($1::text[]) WITH ORDINALITY AS t(g, ord)`,
      [barriers],
    );
    const barrier = new PostgresMessageBarrierStore(db);
    expect(await barrier.prune(2 * HOUR, 1)).toBe(2);
    expect(await present('tx_message_barrier', barriers)).toEqual([barriers[2]]);

    const ids = ['o1', 'o2', 'o3', 'o4'];
    await db.query(
      `INSERT INTO tx_outbox (id, partition, aggregate_id, sequence, exchange, routing_key, type, gtid, payload,
                              published_at)
       SELECT id, 0, 'agg', ord, 'x', 'k', 't', id, '{}',
              CASE WHEN ord = 4 THEN NULL ELSE clock_timestamp() - interval '3 hours' END
         FROM unnest($1::text[]) WITH ORDINALITY AS t(id, ord)`,
      [ids],
    );
    const outbox = new PostgresOutbox(db, 'retention-test');
    expect(await outbox.prune(2 * HOUR, 2)).toBe(3);
    const left = await db.query<{ id: string }>('SELECT id FROM tx_outbox WHERE id = ANY($1)', [ids]);
    expect(left.map((r) => r.id)).toEqual(['o4']);
    await outbox.close();
  });
});
