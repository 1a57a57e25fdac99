import { randomUUID } from 'node:crypto';
import { Database, PgErrorCode, pgErrorCode, Session } from '@hospital/platform';
import {
  QuotaSagaLease,
  QuotaSagaLeaseLostError,
  QuotaSagaLog,
  QuotaSagaRecord,
  QuotaSagaState,
  QuotaSagaStep,
} from '../../ports/quota-cache.ports';
import { GtidInUseError } from '../../two-phase-commit/types';
import { msFromNow } from './log-sql';

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
          `INSERT INTO tx_quota_saga (gtid, input, steps, correlation_id, lease_owner, lease_token, lease_until)
           VALUES ($1, $2, $3, $4, $5, $6, ${msFromNow(7)})`,
          [
            saga.gtid,
            JSON.stringify(saga.input),
            JSON.stringify(saga.steps),
            saga.correlationId ?? null,
            owner,
            token,
            leaseMs,
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
