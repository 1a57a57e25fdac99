import {
  TccBarrier,
  TccBarrierOp,
  TccBarrierResult,
  TccBarrierViolationError,
  TccBranchKey,
} from '../ports/tcc.ports';
import { MemoryLocks, MemorySession } from './memory-session';

const rowKey = (key: TccBranchKey, op: TccBarrierOp): string => `${key.gtid}\u0000${key.branch}\u0000${op}`;

/**
 * `PostgresTccBarrier` in memory, inside a `MemorySession` (run by a `MemoryTransactionRunner`): the rows
 * commit with the session's other staged writes, or vanish with its rollback. Like the primary key in
 * PostgreSQL, writing a row locks its key until the session ends, so a second call of the same branch waits
 * for the first's transaction and then sees what it committed.
 */
export class InMemoryTccBarrier implements TccBarrier<MemorySession> {
  /** Committed rows: (gtid, branch, op) → origin. */
  private readonly rows = new Map<string, TccBarrierOp>();
  private readonly staged = new WeakMap<MemorySession, Map<string, TccBarrierOp>>();
  private readonly locks = new MemoryLocks();

  /** The committed origin of the branch's `op` row, if any. */
  row(key: TccBranchKey, op: TccBarrierOp): TccBarrierOp | undefined {
    return this.rows.get(rowKey(key, op));
  }

  private read(tx: MemorySession, key: TccBranchKey, op: TccBarrierOp): TccBarrierOp | undefined {
    return this.staged.get(tx)?.get(rowKey(key, op)) ?? this.rows.get(rowKey(key, op));
  }

  private async record(
    tx: MemorySession,
    key: TccBranchKey,
    op: TccBarrierOp,
    origin: TccBarrierOp,
  ): Promise<boolean> {
    const k = rowKey(key, op);
    await this.locks.acquire(tx, k);
    if (this.read(tx, key, op) !== undefined) return false;
    let staged = this.staged.get(tx);
    if (!staged) {
      staged = new Map();
      this.staged.set(tx, staged);
    }
    staged.set(k, origin);
    tx.onCommit(() => this.rows.set(k, origin));
    return true;
  }

  async try<T>(
    tx: MemorySession,
    key: TccBranchKey,
    work: (tx: MemorySession) => Promise<T>,
  ): Promise<TccBarrierResult<T>> {
    if (await this.record(tx, key, 'try', 'try')) return { ran: true, value: await work(tx) };
    return { ran: false, skipped: this.read(tx, key, 'try') === 'cancel' ? 'cancelled' : 'duplicate' };
  }

  async confirm<T>(
    tx: MemorySession,
    key: TccBranchKey,
    work: (tx: MemorySession) => Promise<T>,
  ): Promise<TccBarrierResult<T>> {
    const first = await this.record(tx, key, 'confirm', 'confirm');
    if (this.read(tx, key, 'try') !== 'try')
      throw new TccBarrierViolationError(key, 'confirm', 'no try recorded');
    if (this.read(tx, key, 'cancel') !== undefined)
      throw new TccBarrierViolationError(key, 'confirm', 'already cancelled');
    if (!first) return { ran: false, skipped: 'duplicate' };
    return { ran: true, value: await work(tx) };
  }

  async cancel<T>(
    tx: MemorySession,
    key: TccBranchKey,
    work: (tx: MemorySession) => Promise<T>,
  ): Promise<TccBarrierResult<T>> {
    if (await this.record(tx, key, 'try', 'cancel')) {
      await this.record(tx, key, 'cancel', 'cancel');
      return { ran: false, skipped: 'empty-rollback' };
    }
    const first = await this.record(tx, key, 'cancel', 'cancel');
    if (this.read(tx, key, 'confirm') !== undefined)
      throw new TccBarrierViolationError(key, 'cancel', 'already confirmed');
    if (!first) return { ran: false, skipped: 'duplicate' };
    return { ran: true, value: await work(tx) };
  }
}
