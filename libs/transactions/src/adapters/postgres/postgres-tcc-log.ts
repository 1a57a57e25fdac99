import { activeTraceId, Database } from '@hospital/platform';
import {
  browsedRows,
  isoInstant,
  lastErrorOf,
  msFromNow as until,
  startEvent,
  StoredTimelineEntry,
  timelineEvent as event,
  traceIdOf,
} from './log-sql';
import {
  ListedTransaction,
  TransactionBranch,
  TransactionBrowser,
  TransactionQuery,
} from '../../ports/global-transaction';
import { NewTcc, TccLease, TccLeaseLostError, TccLog, TccRecord, TccState } from '../../ports/tcc.ports';
import { GtidInUseError } from '../../two-phase-commit/types';

interface TccRow {
  gtid: string;
  workflow: string;
  input: unknown;
  branches: string[];
  state: TccState;
  reason: string | null;
  correlation_id: string | null;
  retries: number;
  last_error: string | null;
  lease_token: string | null;
  created_at: Date;
  updated_at: Date;
}

const toRecord = (row: TccRow): TccRecord => ({
  gtid: row.gtid,
  workflow: row.workflow,
  input: row.input,
  branches: row.branches,
  state: row.state,
  ...(row.correlation_id === null ? {} : { correlationId: row.correlation_id }),
  ...(row.reason === null ? {} : { reason: row.reason }),
  retries: row.retries,
  ...(row.last_error === null ? {} : { lastError: row.last_error }),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const UNFINISHED: TccState[] = ['trying', 'confirming', 'cancelling'];

/**
 * The TCC coordinator's log on `tx_tcc` (migrations `tccLogMigrations`), in the coordinating service's
 * database, as `PostgresSagaLog` is for the saga: every write one statement, committed synchronously,
 * fenced by the lease token and renewing the lease; a claim takes unleased unfinished transactions with
 * `FOR UPDATE SKIP LOCKED` and gives each a new token.
 */
export class PostgresTccLog implements TccLog {
  constructor(private readonly db: Database) {}

  async begin(tcc: NewTcc, owner: string, leaseMs: number): Promise<TccLease> {
    const [row] = await this.db.query<{ lease_token: string }>(
      `INSERT INTO tx_tcc (gtid, workflow, input, branches, state, correlation_id, lease_owner, lease_token,
                           lease_until, timeline)
       VALUES ($1, $2, $3::jsonb, $4::text[], 'trying', $5, $6, gen_random_uuid(), ${until(7)}, ${startEvent(8, 9)})
       ON CONFLICT (gtid) DO NOTHING
       RETURNING lease_token`,
      [
        tcc.gtid,
        tcc.workflow,
        JSON.stringify(tcc.input ?? null),
        tcc.branches,
        tcc.correlationId ?? null,
        owner,
        leaseMs,
        'trying',
        activeTraceId() ?? null,
      ],
    );
    if (!row) throw new GtidInUseError(tcc.gtid);
    return { gtid: tcc.gtid, token: row.lease_token, leaseMs };
  }

  renew(lease: TccLease): Promise<void> {
    return this.write(lease, UNFINISHED, `lease_until = ${until(4)}`, [lease.leaseMs]);
  }

  decide(lease: TccLease, decision: 'confirming' | 'cancelling', reason?: string): Promise<void> {
    return this.write(
      lease,
      ['trying'],
      `lease_until = ${until(4)}, state = $5, reason = $6, timeline = timeline || ${event(5)}`,
      [lease.leaseMs, decision, reason?.slice(0, 500) ?? null],
    );
  }

  finish(lease: TccLease): Promise<void> {
    return this.write(
      lease,
      ['confirming', 'cancelling'],
      `state = CASE state WHEN 'confirming' THEN 'confirmed' ELSE 'cancelled' END,
       lease_owner = NULL, lease_token = NULL, lease_until = NULL, finished_at = now(),
       timeline = timeline || ${event(4)}`,
      ['finished'],
    );
  }

  release(lease: TccLease, error: string, retryAfterMs: number): Promise<void> {
    return this.write(
      lease,
      UNFINISHED,
      `retries = retries + 1, last_error = $4, lease_owner = NULL, lease_token = NULL,
       lease_until = ${until(5)}, timeline = timeline || ${event(6)}`,
      [error.slice(0, 500), retryAfterMs, 'given back to recovery'],
    );
  }

  async claimUnfinished(
    owner: string,
    limit: number,
    leaseMs: number,
  ): Promise<{ lease: TccLease; tcc: TccRecord }[]> {
    const rows = await this.db.query<TccRow>(
      `UPDATE tx_tcc
          SET lease_owner = $1, lease_token = gen_random_uuid(), lease_until = ${until(3)},
              updated_at = now(), timeline = timeline || ${event(4)}
        WHERE gtid IN (
          SELECT gtid FROM tx_tcc
           WHERE state IN ('trying', 'confirming', 'cancelling') AND (lease_until IS NULL OR lease_until < now())
           ORDER BY lease_until NULLS FIRST LIMIT $2
           FOR UPDATE SKIP LOCKED)
        RETURNING *`,
      [owner, limit, leaseMs, `claimed by ${owner}`],
    );
    return rows.map((row) => ({
      lease: { gtid: row.gtid, token: row.lease_token ?? '', leaseMs },
      tcc: toRecord(row),
    }));
  }

  async get(gtid: string): Promise<TccRecord | undefined> {
    const [row] = await this.db.query<TccRow>('SELECT * FROM tx_tcc WHERE gtid = $1', [gtid]);
    return row && toRecord(row);
  }

  /**
   * One fenced write: only while `lease` is the transaction's and its state is one of `states`, applying
   * `set` (parameters: $1 gtid, $2 token, $3 states, then `values` from $4 on).
   */
  private async write(lease: TccLease, states: TccState[], set: string, values: unknown[]): Promise<void> {
    const rows = await this.db.query(
      `UPDATE tx_tcc SET updated_at = now(), ${set}
        WHERE gtid = $1 AND lease_token = $2 AND state = ANY($3::text[])
        RETURNING gtid`,
      [lease.gtid, lease.token, states, ...values],
    );
    if (rows.length === 0) throw new TccLeaseLostError(lease.gtid);
  }
}

/** What `/api/transactions` reads of a TCC transaction: never its input (patient data). */
interface BrowsedTccRow {
  gtid: string;
  workflow: string;
  branches: string[];
  state: TccState;
  reason: string | null;
  correlation_id: string | null;
  retries: number;
  last_error: string | null;
  timeline: StoredTimelineEntry[];
  created_at: Date;
  updated_at: Date;
}

const BROWSED_COLUMNS = `gtid, workflow, branches, state, reason, correlation_id, retries, last_error, timeline,
  created_at, updated_at`;

/**
 * The branches in the transaction's state: the log keeps one decision for all of them, and every branch
 * gets the same calls (`trying` → `confirming` → `confirmed`, or → `cancelling` → `cancelled`). The branch
 * whose Try failed carries the reason (the coordinator words it `<branch>: <why>`).
 */
function tccBranches(row: BrowsedTccRow): TransactionBranch[] {
  const failed = row.state === 'cancelling' || row.state === 'cancelled' ? row.reason : null;
  return row.branches.map((participant) => ({
    participant,
    state: row.state,
    ...(failed?.startsWith(`${participant}: `) ? { reason: failed.slice(participant.length + 2) } : {}),
  }));
}

/** A timeline entry of the log in an operator's words: what was tried, decided and finished. */
function tccEvent(event: string, row: BrowsedTccRow): string {
  switch (event) {
    case 'trying':
      return `started (${row.workflow}): trying ${row.branches.join(', ')}`;
    case 'confirming':
      return 'every Try succeeded: confirming';
    case 'cancelling':
      return row.reason === null ? 'cancelling' : `cancelling: ${row.reason}`;
    case 'finished':
      // Only a decided transaction finishes, and its decision never changes: the state says which end.
      return row.state === 'confirmed' ? 'confirmed' : row.state === 'cancelled' ? 'cancelled' : event;
    default:
      return event;
  }
}

const toListed = (row: BrowsedTccRow): ListedTransaction => ({
  gtid: row.gtid,
  ...(row.correlation_id === null ? {} : { correlationId: row.correlation_id }),
  style: 'tcc',
  state: row.state,
  branches: tccBranches(row),
  timeline: row.timeline.map(({ at, event }) => ({ at: isoInstant(at), event: tccEvent(event, row) })),
  ...traceIdOf(row.timeline),
  retries: row.retries,
  ...lastErrorOf(row),
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

/**
 * The TCC coordinator's log as `/api/transactions` lists it (style `tcc`): the transaction's state
 * (`trying`, `confirming`, `cancelling`, `confirmed`, `cancelled`), its branches in that state (the Try
 * that failed with its reason), and the timeline its writes appended — started and trying, the decision,
 * the end, and every time it was given back to recovery or claimed by it. The log records rounds of
 * Confirm or Cancel, not each call: `retries` counts the runs that had to give it back. Filtered and
 * limited in SQL (`tx_tcc_created`, `tx_tcc_correlation`).
 */
export class PostgresTccBrowser implements TransactionBrowser {
  constructor(private readonly db: Database) {}

  async list(query: TransactionQuery): Promise<ListedTransaction[]> {
    if (query.style !== undefined && query.style !== 'tcc') return [];
    const rows = await browsedRows<BrowsedTccRow>(this.db, 'tx_tcc', BROWSED_COLUMNS, query);
    return rows.map(toListed);
  }

  async get(gtid: string): Promise<ListedTransaction | undefined> {
    const [row] = await this.db.query<BrowsedTccRow>(
      `SELECT ${BROWSED_COLUMNS} FROM tx_tcc WHERE gtid = $1`,
      [gtid],
    );
    return row && toListed(row);
  }
}
