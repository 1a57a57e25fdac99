import { activeTraceId, Database, firstFailure, Session } from '@hospital/platform';
import { TransactionStyle } from '../../core/observer';
import {
  BranchRecord,
  GlobalTransactionRecord,
  TransactionBrowser,
  TransactionQuery,
} from '../../ports/global-transaction';
import { ThreePhaseCoordinatorLog, ThreePhaseState } from '../../ports/three-phase-commit.ports';
import { TwoPhaseCoordinatorLog } from '../../ports/two-phase-commit.ports';
import { Decision, GtidInUseError, TwoPhaseState } from '../../two-phase-commit/types';
import { StoredTimelineEntry, traceIdOf } from './log-sql';

interface Row {
  gtid: string;
  style: TransactionStyle;
  state: string;
  branches: BranchRecord[];
  timeline: StoredTimelineEntry[];
  retries: number;
  last_error: string | null;
  correlation_id: string | null;
  created_at: Date;
  updated_at: Date;
}

const toRecord = (row: Row): GlobalTransactionRecord => ({
  gtid: row.gtid,
  ...(row.correlation_id ? { correlationId: row.correlation_id } : {}),
  style: row.style,
  state: row.state,
  branches: row.branches,
  timeline: row.timeline.map(({ at, event }) => ({ at, event })),
  ...traceIdOf(row.timeline),
  retries: row.retries,
  ...(row.last_error ? { lastError: row.last_error } : {}),
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

const event = (name: string): string => JSON.stringify([{ at: new Date().toISOString(), event: name }]);
/** The first timeline entry, with the trace id of the request that started the transaction, if any. */
const startedEvent = (): string => {
  const traceId = activeTraceId();
  return JSON.stringify([
    { at: new Date().toISOString(), event: 'started', ...(traceId ? { traceId } : {}) },
  ]);
};
const decisionOf = (state: string | undefined): Decision =>
  state === 'committing' || state === 'committed' ? 'commit' : 'abort';

/** The COMMIT decision lost to an ABORT recorded first: its transaction, and the local work, roll back. */
class AbortRecordedFirst extends Error {}

/**
 * Lists and inspects the global transactions a service coordinates, for `/api/transactions`: those of
 * `only` (a coordinator log's own style) or, without it, every row of `tx_global`.
 */
export class PostgresTransactionBrowser implements TransactionBrowser {
  constructor(
    protected readonly db: Database,
    private readonly only?: '2pc' | '3pc',
  ) {}

  async list(query: TransactionQuery): Promise<GlobalTransactionRecord[]> {
    if (this.only !== undefined && query.style !== undefined && query.style !== this.only) return [];
    const rows = await this.db.query<Row>(
      `SELECT * FROM tx_global
        WHERE ($1::text IS NULL OR style = $1) AND ($2::text IS NULL OR state = $2)
          AND ($3::timestamptz IS NULL OR created_at < $3) AND ($5::text IS NULL OR correlation_id = $5)
        ORDER BY created_at DESC LIMIT $4`,
      [
        query.style ?? this.only ?? null,
        query.state ?? null,
        query.before ?? null,
        query.limit,
        query.correlationId ?? null,
      ],
    );
    return rows.map(toRecord);
  }

  async get(gtid: string): Promise<GlobalTransactionRecord | undefined> {
    const [row] = await this.db.query<Row>(
      'SELECT * FROM tx_global WHERE gtid = $1 AND ($2::text IS NULL OR style = $2)',
      [gtid, this.only ?? null],
    );
    return row ? toRecord(row) : undefined;
  }
}

/**
 * What the 2PC and 3PC logs share on `tx_global`: the start mark, completion, retries, claiming
 * unfinished transactions under a lease, and reading the state. Start and completion marks are
 * bookkeeping that recovery can re-derive, so they are written without waiting for the WAL flush.
 */
abstract class PostgresCoordinatorLog extends PostgresTransactionBrowser {
  constructor(
    db: Database,
    protected readonly style: '2pc' | '3pc',
    /**
     * States recovery claims (besides `preparing`, claimed once stale); constants of the subclass, written
     * into the query so the partial index on unfinished states serves it.
     */
    private readonly unfinished: readonly string[],
    protected readonly leaseMs: number,
  ) {
    super(db, style);
  }

  /** The start mark; its `started` entry carries the active trace id, listed as the record's `traceId`. */
  async begin(gtid: string, participants: string[], correlationId?: string): Promise<void> {
    const branches = participants.map((participant): BranchRecord => ({ participant, state: 'pending' }));
    const inserted = await this.db.queryRelaxed(
      `INSERT INTO tx_global (gtid, style, state, branches, timeline, correlation_id)
       VALUES ($1, $5, 'preparing', $2, $3, $4)
       ON CONFLICT (gtid) DO NOTHING RETURNING gtid`,
      [gtid, JSON.stringify(branches), startedEvent(), correlationId ?? null, this.style],
    );
    if (inserted.length === 0) throw new GtidInUseError(gtid);
  }

  async complete(gtid: string, decision: Decision, branches: BranchRecord[]): Promise<void> {
    await this.db.queryRelaxed(
      `UPDATE tx_global
          SET state = $2, branches = $3, lease_until = NULL, updated_at = now(), timeline = timeline || $4
        WHERE gtid = $1 AND state IN ('committing', 'aborting')`,
      [gtid, decision === 'commit' ? 'committed' : 'aborted', JSON.stringify(branches), event('completed')],
    );
  }

  async noteRetry(gtid: string, error: string, retryAfterMs?: number): Promise<void> {
    await this.db.queryRelaxed(
      `UPDATE tx_global SET retries = retries + 1, last_error = $2, updated_at = now(),
              lease_until = CASE WHEN $3::float8 IS NULL THEN lease_until ELSE now() + $3 * interval '1 millisecond' END
        WHERE gtid = $1`,
      [gtid, error.slice(0, 500), retryAfterMs ?? null],
    );
  }

  async claimUnfinished(
    limit: number,
    leaseMs: number,
    staleAfterMs: number,
  ): Promise<GlobalTransactionRecord[]> {
    const rows = await this.db.query<Row>(
      `UPDATE tx_global SET lease_until = now() + $2 * interval '1 millisecond'
        WHERE gtid IN (
          SELECT gtid FROM tx_global
           WHERE style = $4 AND state IN (${['preparing', ...this.unfinished].map((u) => `'${u}'`).join(', ')})
             AND (lease_until IS NULL OR lease_until < now())
             AND (state <> 'preparing' OR created_at < now() - $3 * interval '1 millisecond')
           ORDER BY updated_at LIMIT $1
           FOR UPDATE SKIP LOCKED)
        RETURNING *`,
      [limit, leaseMs, staleAfterMs, this.style],
    );
    return rows.map(toRecord);
  }

  protected async stateIn(exec: Database | Session, gtid: string): Promise<string | undefined> {
    const [row] = await exec.query<{ state: string }>('SELECT state FROM tx_global WHERE gtid = $1', [gtid]);
    return row?.state;
  }
}

/**
 * The 2PC decision log in the coordinator's own PostgreSQL database. The COMMIT decision and the
 * coordinator's own writes share one local transaction; ABORT wins any race with COMMIT through the
 * `state = 'preparing'` guard on the same row.
 */
export class PostgresTwoPhaseLog extends PostgresCoordinatorLog implements TwoPhaseCoordinatorLog<Session> {
  constructor(db: Database, leaseMs = 30_000) {
    super(db, '2pc', ['committing', 'aborting'], leaseMs);
  }

  async decideCommit(
    gtid: string,
    branches: BranchRecord[],
    localWork?: (tx: Session) => Promise<void>,
  ): Promise<Decision> {
    try {
      return await this.db.transaction(async (tx): Promise<Decision> => {
        // The local work goes out right behind the decision, without waiting for it, and is rolled back
        // with it when an ABORT was recorded first. Both settle before the transaction ends.
        const decided = tx.query(
          `INSERT INTO tx_global (gtid, style, state, branches, timeline, lease_until)
           VALUES ($1, '2pc', 'committing', $2, $3, now() + $4 * interval '1 millisecond')
           ON CONFLICT (gtid) DO UPDATE
             SET state = 'committing', branches = EXCLUDED.branches, lease_until = EXCLUDED.lease_until,
                 timeline = tx_global.timeline || EXCLUDED.timeline, updated_at = now()
             WHERE tx_global.state = 'preparing'
           RETURNING state`,
          [gtid, JSON.stringify(branches), event('decided commit'), this.leaseMs],
        );
        // The decision's own failure first: the local work's statements fail behind it.
        const failure = await firstFailure(decided, localWork?.(tx));
        if (failure !== undefined) throw failure;
        if ((await decided).length === 0) throw new AbortRecordedFirst();
        return 'commit';
      });
    } catch (error) {
      if (error instanceof AbortRecordedFirst) return decisionOf(await this.stateIn(this.db, gtid));
      throw error;
    }
  }

  async decideAbort(gtid: string, reason: string, branches: BranchRecord[] = []): Promise<Decision> {
    const [row] = await this.db.query<{ state: string }>(
      `INSERT INTO tx_global (gtid, style, state, branches, timeline, last_error)
       VALUES ($1, '2pc', CASE WHEN jsonb_array_length($2::jsonb) = 0 THEN 'aborted' ELSE 'aborting' END, $2, $3, $4)
       ON CONFLICT (gtid) DO UPDATE
         SET state = 'aborting',
             branches = CASE WHEN jsonb_array_length(EXCLUDED.branches) = 0 THEN tx_global.branches ELSE EXCLUDED.branches END,
             timeline = tx_global.timeline || EXCLUDED.timeline, last_error = EXCLUDED.last_error, updated_at = now()
         WHERE tx_global.state = 'preparing'
       RETURNING state`,
      [gtid, JSON.stringify(branches), event('decided abort'), reason.slice(0, 500)],
    );
    return decisionOf(row?.state ?? (await this.stateIn(this.db, gtid)));
  }

  async state(gtid: string): Promise<TwoPhaseState | undefined> {
    return (await this.stateIn(this.db, gtid)) as TwoPhaseState | undefined;
  }
}

/**
 * The 3PC log in the coordinator's own PostgreSQL database. `precommitting` is the one write that must be
 * durable before the protocol goes on (no PreCommit leaves before it); the COMMIT mark after every
 * PreCommit answered is bookkeeping, since recovery re-drives PreCommit and learns the same. ABORT wins
 * over `preparing` always, over `precommitting` only when the caller knows a branch aborted.
 */
export class PostgresThreePhaseLog extends PostgresCoordinatorLog implements ThreePhaseCoordinatorLog {
  constructor(db: Database, leaseMs = 15_000) {
    super(db, '3pc', ['precommitting', 'committing', 'aborting'], leaseMs);
  }

  async precommit(gtid: string, branches: BranchRecord[]): Promise<Decision> {
    const [row] = await this.db.query<{ state: string }>(
      `UPDATE tx_global
          SET state = 'precommitting', branches = $2, timeline = timeline || $3, updated_at = now(),
              lease_until = now() + $4 * interval '1 millisecond'
        WHERE gtid = $1 AND state = 'preparing'
        RETURNING state`,
      [gtid, JSON.stringify(branches), event('precommitting'), this.leaseMs],
    );
    const state = row?.state ?? (await this.stateIn(this.db, gtid));
    return state === 'precommitting' || state === 'committing' || state === 'committed' ? 'commit' : 'abort';
  }

  async decideCommit(gtid: string, branches: BranchRecord[]): Promise<void> {
    await this.db.queryRelaxed(
      `UPDATE tx_global SET state = 'committing', branches = $2, timeline = timeline || $3, updated_at = now()
        WHERE gtid = $1 AND state = 'precommitting'`,
      [gtid, JSON.stringify(branches), event('decided commit')],
    );
  }

  async decideAbort(
    gtid: string,
    reason: string,
    options: { branches?: BranchRecord[]; overPrecommit?: boolean } = {},
  ): Promise<ThreePhaseState> {
    const branches = options.branches ?? [];
    const [row] = await this.db.query<{ state: ThreePhaseState }>(
      `INSERT INTO tx_global (gtid, style, state, branches, timeline, last_error)
       VALUES ($1, '3pc', 'aborting', $2, $3, $4)
       ON CONFLICT (gtid) DO UPDATE
         SET state = 'aborting',
             branches = CASE WHEN jsonb_array_length(EXCLUDED.branches) = 0 THEN tx_global.branches ELSE EXCLUDED.branches END,
             timeline = tx_global.timeline || EXCLUDED.timeline, last_error = EXCLUDED.last_error, updated_at = now()
         WHERE tx_global.state = 'preparing' OR ($5 AND tx_global.state = 'precommitting')
       RETURNING state`,
      [
        gtid,
        JSON.stringify(branches),
        event('decided abort'),
        reason.slice(0, 500),
        options.overPrecommit ?? false,
      ],
    );
    return row?.state ?? ((await this.stateIn(this.db, gtid)) as ThreePhaseState);
  }

  async state(gtid: string): Promise<ThreePhaseState | undefined> {
    return (await this.stateIn(this.db, gtid)) as ThreePhaseState | undefined;
  }
}
