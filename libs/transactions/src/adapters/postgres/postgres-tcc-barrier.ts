import { SqlExecutor } from '@hospital/platform';
import {
  TccBarrier,
  TccBarrierOp,
  TccBarrierResult,
  TccBarrierViolationError,
  TccBranchKey,
} from '../../ports/tcc.ports';

/** Inserts the row (gtid, branch, op) written by `origin` unless it exists; true when it inserted. */
async function record(
  tx: SqlExecutor,
  key: TccBranchKey,
  op: TccBarrierOp,
  origin: TccBarrierOp,
): Promise<boolean> {
  const rows = await tx.query(
    `INSERT INTO tx_tcc_barrier (gtid, branch, op, origin) VALUES ($1, $2, $3, $4)
       ON CONFLICT (gtid, branch, op) DO NOTHING RETURNING 1`,
    [key.gtid, key.branch, op, origin],
  );
  return rows.length === 1;
}

/**
 * Locks the branch's try row (when it exists) for the rest of the transaction: a confirm and a cancel of
 * one branch write different rows, so without it each could miss the other's uncommitted row and both run.
 */
async function lockTry(tx: SqlExecutor, key: TccBranchKey): Promise<void> {
  await tx.query(`SELECT 1 FROM tx_tcc_barrier WHERE gtid = $1 AND branch = $2 AND op = 'try' FOR UPDATE`, [
    key.gtid,
    key.branch,
  ]);
}

/** The branch's rows: op → origin. */
async function rowsOf(tx: SqlExecutor, key: TccBranchKey): Promise<Map<TccBarrierOp, TccBarrierOp>> {
  const rows = await tx.query<{ op: TccBarrierOp; origin: TccBarrierOp }>(
    'SELECT op, origin FROM tx_tcc_barrier WHERE gtid = $1 AND branch = $2',
    [key.gtid, key.branch],
  );
  return new Map(rows.map((r) => [r.op, r.origin]));
}

/**
 * The TCC barrier on `tx_tcc_barrier` (migrations `tccBarrierMigrations`), inside the participant's own
 * local transaction (`tx`: a `Session` from `Database.transaction`, or any `SqlExecutor` in a transaction).
 * Every decision starts with an `INSERT … ON CONFLICT DO NOTHING` on the primary key, so two calls of the
 * same branch racing serialise on it: the second waits for the first's transaction and then sees its row;
 * a confirm and a cancel of one branch (different rows) serialise on the branch's try row, which each locks
 * first. Works at READ COMMITTED (each statement sees what committed before it).
 */
export class PostgresTccBarrier implements TccBarrier<SqlExecutor> {
  async try<T>(
    tx: SqlExecutor,
    key: TccBranchKey,
    work: (tx: SqlExecutor) => Promise<T>,
  ): Promise<TccBarrierResult<T>> {
    if (await record(tx, key, 'try', 'try')) return { ran: true, value: await work(tx) };
    const origin = (await rowsOf(tx, key)).get('try');
    return { ran: false, skipped: origin === 'cancel' ? 'cancelled' : 'duplicate' };
  }

  async confirm<T>(
    tx: SqlExecutor,
    key: TccBranchKey,
    work: (tx: SqlExecutor) => Promise<T>,
  ): Promise<TccBarrierResult<T>> {
    await lockTry(tx, key);
    const first = await record(tx, key, 'confirm', 'confirm');
    const rows = await rowsOf(tx, key);
    if (rows.get('try') !== 'try') throw new TccBarrierViolationError(key, 'confirm', 'no try recorded');
    if (rows.has('cancel')) throw new TccBarrierViolationError(key, 'confirm', 'already cancelled');
    if (!first) return { ran: false, skipped: 'duplicate' };
    return { ran: true, value: await work(tx) };
  }

  async cancel<T>(
    tx: SqlExecutor,
    key: TccBranchKey,
    work: (tx: SqlExecutor) => Promise<T>,
  ): Promise<TccBarrierResult<T>> {
    if (await record(tx, key, 'try', 'cancel')) {
      await record(tx, key, 'cancel', 'cancel');
      return { ran: false, skipped: 'empty-rollback' };
    }
    await lockTry(tx, key);
    const first = await record(tx, key, 'cancel', 'cancel');
    if ((await rowsOf(tx, key)).has('confirm'))
      throw new TccBarrierViolationError(key, 'cancel', 'already confirmed');
    if (!first) return { ran: false, skipped: 'duplicate' };
    return { ran: true, value: await work(tx) };
  }
}
