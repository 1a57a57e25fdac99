import { randomUUID } from 'node:crypto';
import { activeTraceId, Database, PgErrorCode, pgErrorCode, Session } from '@hospital/platform';
import {
  QuotaSagaLease,
  QuotaSagaLeaseLostError,
  QuotaSagaLog,
  QuotaSagaRecord,
  QuotaSagaState,
  QuotaSagaStep,
} from '../../ports/quota-cache.ports';
import { GtidInUseError } from '../../two-phase-commit/types';
import { ListedTransaction, TransactionBrowser, TransactionQuery } from '../../ports/global-transaction';
import { browsedRows, msFromNow } from './log-sql';

interface QuotaSagaRow {
  gtid: string;
  input: unknown;
  steps: QuotaSagaStep[];
  state: QuotaSagaState;
  correlation_id: string | null;
  reason: string | null;
}

const toRecord = (row: QuotaSagaRow): QuotaSagaRecord => ({
  gtid: row.gtid,
  input: row.input,
  steps: row.steps,
  state: row.state,
  ...(row.correlation_id === null ? {} : { correlationId: row.correlation_id }),
  ...(row.reason === null ? {} : { reason: row.reason }),
});

/** The quota-cached saga's log over `tx_quota_saga` (`quotaSagaLogMigrations`), two writes per saga. */
export class PostgresQuotaSagaLog implements QuotaSagaLog<Session> {
  constructor(private readonly db: Database) {}

  async begin(
    saga: Omit<QuotaSagaRecord, 'state' | 'reason'>,
    owner: string,
    leaseMs: number,
    work: (tx: Session) => Promise<void>,
  ): Promise<QuotaSagaLease> {
    const token = randomUUID();
    try {
      await this.db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO tx_quota_saga (gtid, input, steps, correlation_id, lease_owner, lease_token, lease_until, trace_id)
           VALUES ($1, $2, $3, $4, $5, $6, ${msFromNow(7)}, $8)`,
          [
            saga.gtid,
            JSON.stringify(saga.input),
            JSON.stringify(saga.steps),
            saga.correlationId ?? null,
            owner,
            token,
            leaseMs,
            activeTraceId() ?? null,
          ],
        );
        await work(tx);
      });
    } catch (error) {
      const constraint = (error as { constraint?: string }).constraint;
      if (pgErrorCode(error) === PgErrorCode.UniqueViolation && constraint === 'tx_quota_saga_pkey')
        throw new GtidInUseError(saga.gtid);
      throw error;
    }
    return { gtid: saga.gtid, token };
  }

  async finish(
    lease: QuotaSagaLease,
    outcome: 'completed' | 'aborted',
    reason: string | undefined,
    work: (tx: Session) => Promise<void>,
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      const rows = await tx.query(
        `UPDATE tx_quota_saga SET state = $3, reason = $4, finished_at = now(),
                lease_owner = NULL, lease_token = NULL, lease_until = NULL
          WHERE gtid = $1 AND lease_token = $2 AND state = 'running' RETURNING 1`,
        [lease.gtid, lease.token, outcome, reason ?? null],
      );
      if (rows.length !== 1) throw new QuotaSagaLeaseLostError(lease.gtid);
      await work(tx);
    });
  }

  async claimUnfinished(
    owner: string,
    limit: number,
    leaseMs: number,
  ): Promise<{ lease: QuotaSagaLease; saga: QuotaSagaRecord }[]> {
    const rows = await this.db.query<QuotaSagaRow & { lease_token: string }>(
      `UPDATE tx_quota_saga s SET lease_owner = $1, lease_token = gen_random_uuid()::text,
              lease_until = ${msFromNow(3)}
        WHERE s.gtid IN (SELECT gtid FROM tx_quota_saga
                          WHERE state = 'running' AND lease_until < now()
                          ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED)
        RETURNING s.gtid, s.input, s.steps, s.state, s.correlation_id, s.reason, s.lease_token`,
      [owner, limit, leaseMs],
    );
    return rows.map((row) => ({ lease: { gtid: row.gtid, token: row.lease_token }, saga: toRecord(row) }));
  }

  async get(gtid: string): Promise<QuotaSagaRecord | undefined> {
    const rows = await this.db.query<QuotaSagaRow>(
      'SELECT gtid, input, steps, state, correlation_id, reason FROM tx_quota_saga WHERE gtid = $1',
      [gtid],
    );
    return rows[0] && toRecord(rows[0]);
  }
}

/** What `/api/transactions` reads of a quota-cached saga: never its input (patient data). */
interface BrowsedQuotaSagaRow {
  gtid: string;
  steps: QuotaSagaStep[];
  state: QuotaSagaState;
  correlation_id: string | null;
  reason: string | null;
  created_at: Date;
  finished_at: Date | null;
  trace_id: string | null;
}

const BROWSED_COLUMNS = 'gtid, steps, state, correlation_id, reason, created_at, finished_at, trace_id';

/**
 * What each reservation is known to be in the saga's state: the log is written only at the start and the
 * end, and the orchestrator holds every reservation before it completes and releases every one before it
 * aborts.
 */
const STEP_STATES: Record<QuotaSagaState, string> = {
  running: 'reserving',
  completed: 'held',
  aborted: 'released',
};

function toListed(row: BrowsedQuotaSagaRow): ListedTransaction {
  const participants = [...new Set(row.steps.map((step) => step.participant))];
  const timeline = [
    {
      at: row.created_at.toISOString(),
      event: `started: reserving ${row.steps.length} step(s) at ${participants.join(', ')}`,
    },
  ];
  if (row.finished_at !== null)
    timeline.push({
      at: row.finished_at.toISOString(),
      event:
        row.state === 'aborted'
          ? `every reservation released; aborted${row.reason === null ? '' : `: ${row.reason}`}`
          : 'every reservation held; completed',
    });
  return {
    gtid: row.gtid,
    ...(row.correlation_id === null ? {} : { correlationId: row.correlation_id }),
    style: 'quota-saga',
    state: row.state,
    branches: row.steps.map((step) => ({
      participant: step.participant,
      step: step.step,
      state: STEP_STATES[row.state],
    })),
    timeline,
    // The log keeps no count: a reservation retried within a run, or a saga recovery aborts, leaves none.
    retries: 0,
    ...(row.state === 'aborted' && row.reason !== null ? { lastError: row.reason } : {}),
    ...(row.trace_id === null ? {} : { traceId: row.trace_id }),
    createdAt: row.created_at.toISOString(),
    updatedAt: (row.finished_at ?? row.created_at).toISOString(),
  };
}

/**
 * The quota-cached saga's log as `/api/transactions` lists it (style `quota-saga`): its state
 * (`running`, `completed`, `aborted`), each reservation step as a branch at its participant (`reserving`
 * while it runs, `held` once completed, `released` once aborted), and the two instants the log records:
 * the start and the end (with the reason of an abort). Filtered and limited in SQL
 * (`tx_quota_saga_created`, `tx_quota_saga_correlation`).
 */
export class PostgresQuotaSagaBrowser implements TransactionBrowser {
  constructor(private readonly db: Database) {}

  async list(query: TransactionQuery): Promise<ListedTransaction[]> {
    if (query.style !== undefined && query.style !== 'quota-saga') return [];
    const rows = await browsedRows<BrowsedQuotaSagaRow>(this.db, 'tx_quota_saga', BROWSED_COLUMNS, query);
    return rows.map(toListed);
  }

  async get(gtid: string): Promise<ListedTransaction | undefined> {
    const [row] = await this.db.query<BrowsedQuotaSagaRow>(
      `SELECT ${BROWSED_COLUMNS} FROM tx_quota_saga WHERE gtid = $1`,
      [gtid],
    );
    return row && toListed(row);
  }
}
