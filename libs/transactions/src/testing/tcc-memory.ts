import { randomUUID } from 'node:crypto';
import { Clock } from '../core/clock';
import {
  NewTcc,
  TccBarrier,
  TccBarrierOp,
  TccBarrierResult,
  TccBarrierViolationError,
  TccBranchKey,
  TccLease,
  TccLeaseLostError,
  TccLog,
  TccRecord,
  TccState,
} from '../ports/tcc.ports';
import { GtidInUseError } from '../two-phase-commit/types';
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

/** One `tx_tcc` row. */
export interface StoredTcc {
  record: TccRecord;
  lease?: { owner: string; token: string; until: number };
  /** Every event written, in order (the `timeline` column). */
  timeline: string[];
}

const TCC_MOVES: Record<TccState, readonly TccState[]> = {
  trying: ['confirming', 'cancelling'],
  confirming: ['confirmed'],
  cancelling: ['cancelled'],
  confirmed: [],
  cancelled: [],
};

const UNFINISHED: readonly TccState[] = ['trying', 'confirming', 'cancelling'];

const copyTcc = (r: TccRecord): TccRecord => ({
  ...r,
  branches: [...r.branches],
  input: JSON.parse(JSON.stringify(r.input)) as unknown,
  createdAt: new Date(r.createdAt),
  updatedAt: new Date(r.updatedAt),
});

/**
 * The TCC coordinator log's database, shared by every coordinator replica and surviving their crashes.
 * Illegal state changes are recorded in `violations` rather than thrown, so the property spec reports
 * them with the schedule that caused them.
 */
export class TccLogStore {
  readonly transactions = new Map<string, StoredTcc>();
  readonly violations: string[] = [];

  constructor(readonly clock: Pick<Clock, 'now'>) {}

  /** Applies a fenced write: refused unless `lease` is the transaction's and it is in `states`; renews it. */
  write(
    lease: TccLease,
    event: string,
    change: (tcc: StoredTcc, now: number) => void,
    states: readonly TccState[] = UNFINISHED,
  ): void {
    const tcc = this.transactions.get(lease.gtid);
    if (!tcc || tcc.lease?.token !== lease.token || !states.includes(tcc.record.state))
      throw new TccLeaseLostError(lease.gtid);
    const now = this.clock.now();
    change(tcc, now);
    if (tcc.lease?.token === lease.token) tcc.lease.until = now + lease.leaseMs;
    tcc.record.updatedAt = new Date(now);
    tcc.timeline.push(event);
  }

  move(tcc: StoredTcc, to: TccState): void {
    if (!TCC_MOVES[tcc.record.state].includes(to))
      this.violations.push(`tcc log: ${tcc.record.gtid} moved ${tcc.record.state} → ${to}`);
    tcc.record.state = to;
  }
}

/**
 * `TccLog` over a `TccLogStore`, mirroring `PostgresTccLog`: every call is one atomic step; writes are
 * fenced by the lease token and renew the lease; a claim takes only unfinished transactions whose lease
 * ran out or was released, and gives each a new token.
 */
export class InMemoryTccLog implements TccLog {
  constructor(readonly store: TccLogStore) {}

  private step<T>(operation: () => T): Promise<T> {
    return Promise.resolve().then(operation);
  }

  begin(tcc: NewTcc, owner: string, leaseMs: number): Promise<TccLease> {
    return this.step(() => {
      if (this.store.transactions.has(tcc.gtid)) throw new GtidInUseError(tcc.gtid);
      const now = this.store.clock.now();
      const token = randomUUID();
      this.store.transactions.set(tcc.gtid, {
        record: {
          gtid: tcc.gtid,
          workflow: tcc.workflow,
          input: JSON.parse(JSON.stringify(tcc.input)) as unknown,
          branches: [...tcc.branches],
          state: 'trying',
          ...(tcc.correlationId === undefined ? {} : { correlationId: tcc.correlationId }),
          retries: 0,
          createdAt: new Date(now),
          updatedAt: new Date(now),
        },
        lease: { owner, token, until: now + leaseMs },
        timeline: ['trying'],
      });
      return { gtid: tcc.gtid, token, leaseMs };
    });
  }

  renew(lease: TccLease): Promise<void> {
    return this.step(() => this.store.write(lease, 'renewed', () => undefined));
  }

  decide(lease: TccLease, decision: 'confirming' | 'cancelling', reason?: string): Promise<void> {
    return this.step(() =>
      this.store.write(
        lease,
        decision,
        (tcc) => {
          this.store.move(tcc, decision);
          if (reason !== undefined) tcc.record.reason = reason;
        },
        ['trying'],
      ),
    );
  }

  finish(lease: TccLease): Promise<void> {
    return this.step(() =>
      this.store.write(
        lease,
        'finished',
        (tcc) => {
          this.store.move(tcc, tcc.record.state === 'confirming' ? 'confirmed' : 'cancelled');
          tcc.lease = undefined;
        },
        ['confirming', 'cancelling'],
      ),
    );
  }

  release(lease: TccLease, error: string, retryAfterMs: number): Promise<void> {
    return this.step(() =>
      this.store.write(lease, `released: ${error}`, (tcc, now) => {
        tcc.record.retries += 1;
        tcc.record.lastError = error;
        tcc.lease = { owner: '', token: '', until: now + retryAfterMs };
      }),
    );
  }

  claimUnfinished(
    owner: string,
    limit: number,
    leaseMs: number,
  ): Promise<{ lease: TccLease; tcc: TccRecord }[]> {
    return this.step(() => {
      const now = this.store.clock.now();
      const claimed: { lease: TccLease; tcc: TccRecord }[] = [];
      for (const tcc of this.store.transactions.values()) {
        if (claimed.length >= limit) break;
        if (!UNFINISHED.includes(tcc.record.state) || (tcc.lease && tcc.lease.until > now)) continue;
        const token = randomUUID();
        tcc.lease = { owner, token, until: now + leaseMs };
        tcc.timeline.push(`claimed by ${owner}`);
        claimed.push({ lease: { gtid: tcc.record.gtid, token, leaseMs }, tcc: copyTcc(tcc.record) });
      }
      return claimed;
    });
  }

  get(gtid: string): Promise<TccRecord | undefined> {
    return this.step(() => {
      const tcc = this.store.transactions.get(gtid);
      return tcc && copyTcc(tcc.record);
    });
  }
}
