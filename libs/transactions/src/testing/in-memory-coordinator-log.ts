import { Clock } from '../core/clock';
import {
  BranchRecord,
  GlobalTransactionRecord,
  TransactionBrowser,
  TransactionQuery,
} from '../ports/global-transaction';
import { TwoPhaseCoordinatorLog } from '../ports/two-phase-commit.ports';
import { Decision, GtidInUseError, TwoPhaseState } from '../two-phase-commit/types';
import { immediateStorage, MemoryDatabase, MemoryTx, StorageGate } from './memory-database';

/** One durable row of the coordinator log. */
export interface StoredTwoPhaseRecord {
  gtid: string;
  state: TwoPhaseState;
  branches: BranchRecord[];
  timeline: { at: number; event: string }[];
  retries: number;
  lastError?: string;
  createdAt: number;
  updatedAt: number;
  lease?: { holder: string; until: number };
}

const ALLOWED: Record<TwoPhaseState, readonly TwoPhaseState[]> = {
  preparing: ['preparing', 'committing', 'aborting', 'aborted'],
  committing: ['committing', 'committed'],
  committed: ['committed'],
  aborting: ['aborting', 'aborted'],
  aborted: ['aborted'],
};

/**
 * The coordinator's database as an in-memory store: the log rows and the coordinating service's own rows,
 * shared by every replica of the service and surviving their crashes. Like the PostgreSQL log, start,
 * completion and retry marks are "relaxed" writes (`synchronous_commit = off`): they are lost if the
 * database itself crashes before a later synchronous commit flushes them (`crash`).
 */
export class CoordinatorLogStore {
  readonly records = new Map<string, StoredTwoPhaseRecord>();
  /** The coordinating service's own rows (the `local` work of each request). */
  readonly database = new MemoryDatabase();
  /** Protocol misuse seen by the log (illegal state changes, completing with the wrong decision). */
  readonly violations: string[] = [];
  /** Undo steps of relaxed writes not yet flushed by a synchronous commit, oldest first. */
  private unflushed: (() => void)[] = [];

  state(gtid: string): TwoPhaseState | undefined {
    return this.records.get(gtid)?.state;
  }

  /** The decision durably in force: COMMIT once committing, ABORT once aborting, none while preparing. */
  decision(gtid: string): Decision | undefined {
    const state = this.state(gtid);
    if (state === 'committing' || state === 'committed') return 'commit';
    if (state === 'aborting' || state === 'aborted') return 'abort';
    return undefined;
  }

  move(record: StoredTwoPhaseRecord, to: TwoPhaseState, event: string, now: number): void {
    if (!ALLOWED[record.state].includes(to)) {
      this.violations.push(`coordinator log: ${record.gtid} moved ${record.state} → ${to} (${event})`);
    }
    if (record.state !== to) record.timeline.push({ at: now, event: `${to}: ${event}` });
    record.state = to;
    record.updatedAt = now;
  }

  /** Runs a write that does not wait for the WAL flush: a database crash may undo it. */
  relaxed(gtid: string, write: () => void): void {
    const before = this.records.get(gtid);
    const saved = before && cloneRecord(before);
    write();
    this.unflushed.push(() => {
      if (saved) this.records.set(gtid, saved);
      else this.records.delete(gtid);
    });
  }

  /** Runs a synchronous commit, which also flushes every relaxed write before it. */
  durable<T>(write: () => T): T {
    const result = write();
    this.unflushed = [];
    return result;
  }

  /** Relaxed writes a database crash would lose now. */
  get unflushedWrites(): number {
    return this.unflushed.length;
  }

  /** The database crashes and restarts: relaxed writes not yet flushed are gone. */
  crash(): number {
    const lost = this.unflushed.length;
    for (const undo of this.unflushed.reverse()) undo();
    this.unflushed = [];
    return lost;
  }
}

export interface InMemoryCoordinatorLogOptions {
  /** Time source for timestamps, staleness and leases. */
  clock: Pick<Clock, 'now'>;
  /** Who holds the leases this handle takes (one per coordinator replica incarnation), for inspection. */
  claimer?: string;
  /** Lease the COMMIT decision takes for the deciding replica's own phase two. Default 30 s (as PostgreSQL's). */
  decisionLeaseMs?: number;
  gate?: StorageGate;
}

let anonymousClaimers = 0;

/**
 * `TwoPhaseCoordinatorLog` over a `CoordinatorLogStore`, mirroring `PostgresTwoPhaseLog`: every call is
 * one atomic step; `decideCommit` records COMMIT (guarded by `state = preparing`, so a recorded ABORT
 * wins) together with the local work and a lease for the deciding replica's phase two; `decideAbort`
 * only moves a `preparing` record; `claimUnfinished` skips every record under an unexpired lease;
 * `begin`, `complete` and `noteRetry` are relaxed writes.
 */
export class InMemoryCoordinatorLog implements TwoPhaseCoordinatorLog<MemoryTx>, TransactionBrowser {
  private readonly clock: Pick<Clock, 'now'>;
  private readonly gate: StorageGate;
  private readonly decisionLeaseMs: number;
  readonly claimer: string;

  constructor(
    readonly store: CoordinatorLogStore,
    options: InMemoryCoordinatorLogOptions,
  ) {
    this.clock = options.clock;
    this.gate = options.gate ?? immediateStorage;
    this.claimer = options.claimer ?? `claimer-${++anonymousClaimers}`;
    this.decisionLeaseMs = options.decisionLeaseMs ?? 30_000;
  }

  begin(gtid: string, participants: string[]): Promise<void> {
    return this.gate('write', `log begin ${gtid}`, () => {
      if (this.store.records.has(gtid)) throw new GtidInUseError(gtid);
      const now = this.clock.now();
      this.store.relaxed(gtid, () =>
        this.store.records.set(gtid, {
          gtid,
          state: 'preparing',
          branches: participants.map((participant) => ({ participant, state: 'pending' })),
          timeline: [{ at: now, event: 'preparing' }],
          retries: 0,
          createdAt: now,
          updatedAt: now,
        }),
      );
    });
  }

  async decideCommit(
    gtid: string,
    branches: BranchRecord[],
    localWork?: (tx: MemoryTx) => Promise<void>,
  ): Promise<Decision> {
    // The local work runs on a private write set; if it throws, nothing below happens.
    const tx = this.store.database.begin();
    if (localWork) await localWork(tx);
    return this.gate('write', `log decide-commit ${gtid}`, () =>
      this.store.durable((): Decision => {
        const now = this.clock.now();
        const record = this.store.records.get(gtid);
        if (record && record.state !== 'preparing') return this.store.decision(gtid) ?? 'abort';
        this.store.database.apply(tx.writeSet);
        const lease = { holder: this.claimer, until: now + this.decisionLeaseMs };
        if (record) {
          record.branches = copyBranches(branches);
          record.lease = lease;
          this.store.move(record, 'committing', 'commit decided', now);
        } else {
          this.store.records.set(gtid, {
            gtid,
            state: 'committing',
            branches: copyBranches(branches),
            timeline: [{ at: now, event: 'committing: commit decided' }],
            retries: 0,
            createdAt: now,
            updatedAt: now,
            lease,
          });
        }
        return 'commit';
      }),
    );
  }

  decideAbort(gtid: string, reason: string, branches: BranchRecord[] = []): Promise<Decision> {
    return this.gate('write', `log decide-abort ${gtid}`, () =>
      this.store.durable((): Decision => {
        const now = this.clock.now();
        const record = this.store.records.get(gtid);
        if (!record) {
          const state = branches.length > 0 ? 'aborting' : 'aborted';
          this.store.records.set(gtid, {
            gtid,
            state,
            branches: copyBranches(branches),
            timeline: [{ at: now, event: `${state}: ${reason}` }],
            retries: 0,
            lastError: reason,
            createdAt: now,
            updatedAt: now,
          });
          return 'abort';
        }
        if (record.state !== 'preparing') return this.store.decision(gtid) ?? 'abort';
        if (branches.length > 0) record.branches = copyBranches(branches);
        record.lastError = reason;
        this.store.move(record, 'aborting', reason, now);
        return 'abort';
      }),
    );
  }

  complete(gtid: string, decision: Decision, branches: BranchRecord[]): Promise<void> {
    return this.gate('write', `log complete ${gtid}`, () => {
      const record = this.store.records.get(gtid);
      if (!record) {
        this.store.violations.push(`coordinator log: complete(${decision}) for unknown ${gtid}`);
        return;
      }
      const inForce = this.store.decision(gtid);
      if (inForce !== decision) {
        this.store.violations.push(
          `coordinator log: complete(${decision}) for ${gtid} while the log holds ${inForce ?? 'no decision'}`,
        );
        return;
      }
      if (record.state !== 'committing' && record.state !== 'aborting') return;
      const now = this.clock.now();
      this.store.relaxed(gtid, () => {
        record.branches = copyBranches(branches);
        record.lease = undefined;
        this.store.move(
          record,
          decision === 'commit' ? 'committed' : 'aborted',
          'every participant acknowledged',
          now,
        );
      });
    });
  }

  noteRetry(gtid: string, error: string, retryAfterMs?: number): Promise<void> {
    return this.gate('write', `log note-retry ${gtid}`, () => {
      const record = this.store.records.get(gtid);
      if (!record) return;
      this.store.relaxed(gtid, () => {
        record.retries += 1;
        record.lastError = error;
        record.updatedAt = this.clock.now();
        if (retryAfterMs !== undefined)
          record.lease = { holder: this.claimer, until: this.clock.now() + retryAfterMs };
      });
    });
  }

  claimUnfinished(limit: number, leaseMs: number, staleAfterMs: number): Promise<GlobalTransactionRecord[]> {
    return this.gate('write', `log claim-unfinished by ${this.claimer}`, () =>
      this.store.durable(() => {
        const now = this.clock.now();
        const claimable = [...this.store.records.values()]
          .filter(
            (r) =>
              r.state === 'committing' ||
              r.state === 'aborting' ||
              (r.state === 'preparing' && r.createdAt < now - staleAfterMs),
          )
          .filter((r) => !r.lease || r.lease.until < now)
          .sort((a, b) => a.updatedAt - b.updatedAt)
          .slice(0, Math.max(0, limit));
        for (const record of claimable) record.lease = { holder: this.claimer, until: now + leaseMs };
        return claimable.map(toGlobalRecord);
      }),
    );
  }

  state(gtid: string): Promise<TwoPhaseState | undefined> {
    return this.gate('read', `log state ${gtid}`, () => this.store.state(gtid));
  }

  list(query: TransactionQuery): Promise<GlobalTransactionRecord[]> {
    return this.gate('read', 'log list', () =>
      [...this.store.records.values()]
        .filter(() => query.style === undefined || query.style === '2pc')
        .filter((r) => query.state === undefined || r.state === query.state)
        .filter((r) => query.before === undefined || r.createdAt < Date.parse(query.before))
        .sort((a, b) => b.createdAt - a.createdAt)
        .slice(0, query.limit)
        .map(toGlobalRecord),
    );
  }

  get(gtid: string): Promise<GlobalTransactionRecord | undefined> {
    return this.gate('read', `log get ${gtid}`, () => {
      const record = this.store.records.get(gtid);
      return record && toGlobalRecord(record);
    });
  }
}

function cloneRecord(record: StoredTwoPhaseRecord): StoredTwoPhaseRecord {
  return {
    ...record,
    branches: copyBranches(record.branches),
    timeline: record.timeline.map((t) => ({ ...t })),
    ...(record.lease ? { lease: { ...record.lease } } : {}),
  };
}

function copyBranches(branches: BranchRecord[]): BranchRecord[] {
  return branches.map((b) => ({ ...b }));
}

function toGlobalRecord(record: StoredTwoPhaseRecord): GlobalTransactionRecord {
  return {
    gtid: record.gtid,
    style: '2pc',
    state: record.state,
    branches: copyBranches(record.branches),
    timeline: record.timeline.map((t) => ({ at: new Date(t.at).toISOString(), event: t.event })),
    retries: record.retries,
    ...(record.lastError === undefined ? {} : { lastError: record.lastError }),
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
  };
}
