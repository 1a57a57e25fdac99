import { Database } from '@hospital/platform';
import { BranchRecord } from '../../ports/global-transaction';
import { Decision } from '../../two-phase-commit/types';

/** A global transaction this service coordinates that has not finished phase two. */
export interface UnfinishedTransaction {
  gtid: string;
  state: 'preparing' | 'committing' | 'aborting';
  branches: BranchRecord[];
  retries: number;
  lastError?: string;
  createdAt: Date;
  /** Seconds since it started, by the database's clock. */
  ageSeconds: number;
}

interface UnfinishedRow {
  gtid: string;
  state: UnfinishedTransaction['state'];
  branches: BranchRecord[];
  retries: number;
  last_error: string | null;
  created_at: Date;
  age_seconds: number;
}

/**
 * What operators watch in a 2PC service's own database: the oldest prepared transaction (it holds row locks
 * until it is resolved) and the coordinator's unfinished global transactions. Cheap reads, for `/metrics`
 * scrapes and the in-doubt admin endpoint.
 */
export class PostgresTransactionHealth {
  constructor(private readonly db: Database) {}

  /** Age of the oldest row of `pg_prepared_xacts` in this database, 0 when there is none. */
  async oldestPreparedAgeSeconds(): Promise<number> {
    const [row] = await this.db.query<{ age: number | null }>(
      `SELECT extract(epoch FROM now() - min(prepared))::float8 AS age
         FROM pg_prepared_xacts WHERE database = current_database()`,
    );
    return Math.max(0, row?.age ?? 0);
  }

  /** How many 2PC transactions this service coordinates are still unfinished `olderThanMs` after they began. */
  async overdueCount(olderThanMs: number): Promise<number> {
    const [row] = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM tx_global
        WHERE style = '2pc' AND state IN ('preparing', 'committing', 'aborting')
          AND created_at < now() - $1 * interval '1 millisecond'`,
      [olderThanMs],
    );
    return row?.n ?? 0;
  }

  /** Unfinished 2PC transactions, oldest first; one of them when `gtid` is given. */
  async unfinished(limit: number, gtid?: string): Promise<UnfinishedTransaction[]> {
    const rows = await this.db.query<UnfinishedRow>(
      `SELECT gtid, state, branches, retries, last_error, created_at,
              extract(epoch FROM now() - created_at)::float8 AS age_seconds
         FROM tx_global
        WHERE style = '2pc' AND state IN ('preparing', 'committing', 'aborting')
          AND ($2::text IS NULL OR gtid = $2)
        ORDER BY created_at LIMIT $1`,
      [limit, gtid ?? null],
    );
    return rows.map((row) => ({
      gtid: row.gtid,
      state: row.state,
      branches: row.branches,
      retries: row.retries,
      ...(row.last_error ? { lastError: row.last_error } : {}),
      createdAt: row.created_at,
      ageSeconds: Math.max(0, row.age_seconds),
    }));
  }
}

/** One operator's resolution of an in-doubt transaction, as `tx_resolution` keeps it. */
export interface Resolution {
  id: number;
  gtid: string;
  role: 'coordinator' | 'participant';
  /** The coordinator of the transaction (this service, for role `coordinator`). */
  coordinator: string;
  requested: Decision;
  decision: Decision;
  heuristic: boolean;
  operator: string;
  reason: string;
  outcome: 'pending' | 'applied' | 'failed';
  detail?: string;
  createdAt: Date;
  finishedAt?: Date;
}

export type NewResolution = Omit<Resolution, 'id' | 'outcome' | 'detail' | 'createdAt' | 'finishedAt'>;

interface ResolutionRow {
  id: string;
  gtid: string;
  role: Resolution['role'];
  coordinator: string;
  requested: Decision;
  decision: Decision;
  heuristic: boolean;
  operator: string;
  reason: string;
  outcome: Resolution['outcome'];
  detail: string | null;
  created_at: Date;
  finished_at: Date | null;
}

const toResolution = (row: ResolutionRow): Resolution => ({
  id: Number(row.id),
  gtid: row.gtid,
  role: row.role,
  coordinator: row.coordinator,
  requested: row.requested,
  decision: row.decision,
  heuristic: row.heuristic,
  operator: row.operator,
  reason: row.reason,
  outcome: row.outcome,
  ...(row.detail ? { detail: row.detail } : {}),
  createdAt: row.created_at,
  ...(row.finished_at ? { finishedAt: row.finished_at } : {}),
});

/**
 * The durable record of operators' resolutions (`tx_resolution`). A resolution is written before its
 * decision is applied (synchronous commit: it is the only trace of a heuristic decision) and completed
 * after; on a coordinator it is also appended to the transaction's timeline.
 */
export class PostgresResolutionLog {
  constructor(private readonly db: Database) {}

  async begin(resolution: NewResolution): Promise<Resolution> {
    const [row] = await this.db.query<ResolutionRow>(
      `INSERT INTO tx_resolution (gtid, role, coordinator, requested, decision, heuristic, operator, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
      [
        resolution.gtid,
        resolution.role,
        resolution.coordinator,
        resolution.requested,
        resolution.decision,
        resolution.heuristic,
        resolution.operator,
        resolution.reason,
      ],
    );
    if (!row) throw new Error(`resolution of ${resolution.gtid} not recorded`);
    if (resolution.role === 'coordinator') {
      const event = `resolution ${row.id} by ${resolution.operator}: ${resolution.decision}`;
      await this.db.query(
        `UPDATE tx_global SET timeline = timeline || $2::jsonb, updated_at = now() WHERE gtid = $1`,
        [resolution.gtid, JSON.stringify([{ at: new Date().toISOString(), event }])],
      );
    }
    return toResolution(row);
  }

  async finish(id: number, outcome: 'applied' | 'failed', detail?: string): Promise<Resolution> {
    const [row] = await this.db.query<ResolutionRow>(
      `UPDATE tx_resolution SET outcome = $2, detail = $3, finished_at = now() WHERE id = $1 RETURNING *`,
      [id, outcome, detail?.slice(0, 500) ?? null],
    );
    if (!row) throw new Error(`resolution ${id} not found`);
    return toResolution(row);
  }

  /** Resolutions, newest first; those of one transaction when `gtid` is given. */
  async list(limit: number, gtid?: string): Promise<Resolution[]> {
    const rows = await this.db.query<ResolutionRow>(
      `SELECT * FROM tx_resolution WHERE ($2::text IS NULL OR gtid = $2) ORDER BY id DESC LIMIT $1`,
      [limit, gtid ?? null],
    );
    return rows.map(toResolution);
  }
}
