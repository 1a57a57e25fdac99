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
import { ListedTransaction, TransactionBrowser, TransactionQuery } from '../../ports/global-transaction';
import {
  NewSaga,
  SagaLease,
  SagaLeaseLostError,
  SagaLog,
  SagaRecord,
  SagaState,
  SagaStepRecord,
  SagaStepStatus,
} from '../../ports/saga.ports';
import { GtidInUseError } from '../../two-phase-commit/types';

interface SagaRow {
  gtid: string;
  workflow: string;
  input: unknown;
  state: SagaState;
  failed_step: string | null;
  reason: string | null;
  correlation_id: string | null;
  retries: number;
  last_error: string | null;
  lease_token: string | null;
  created_at: Date;
  updated_at: Date;
}

interface StepRow {
  gtid: string;
  position: number;
  name: string;
  status: SagaStepStatus;
  attempts: number;
  compensation_attempts: number;
  result: unknown;
  has_result: boolean;
  error: string | null;
}

const STEP_COLUMNS = `gtid, position, name, status, attempts, compensation_attempts, result,
  (result IS NOT NULL) AS has_result, error`;

const toStep = (row: StepRow): SagaStepRecord => ({
  index: row.position,
  name: row.name,
  status: row.status,
  attempts: row.attempts,
  compensationAttempts: row.compensation_attempts,
  ...(row.has_result ? { result: row.result } : {}),
  ...(row.error === null ? {} : { error: row.error }),
});

const toRecord = (row: SagaRow, steps: StepRow[]): SagaRecord => ({
  gtid: row.gtid,
  workflow: row.workflow,
  input: row.input,
  state: row.state,
  steps: steps.map(toStep),
  ...(row.correlation_id === null ? {} : { correlationId: row.correlation_id }),
  ...(row.failed_step === null ? {} : { failedStep: row.failed_step }),
  ...(row.reason === null ? {} : { reason: row.reason }),
  retries: row.retries,
  ...(row.last_error === null ? {} : { lastError: row.last_error }),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** The steps of these sagas, in order, by gtid. */
async function stepsOf(db: Database, gtids: string[]): Promise<Map<string, StepRow[]>> {
  const rows = await db.query<StepRow>(
    `SELECT ${STEP_COLUMNS} FROM tx_saga_step WHERE gtid = ANY($1::text[]) ORDER BY gtid, position`,
    [gtids],
  );
  const byGtid = new Map<string, StepRow[]>();
  for (const row of rows) byGtid.set(row.gtid, [...(byGtid.get(row.gtid) ?? []), row]);
  return byGtid;
}

/**
 * The saga log in the orchestrating service's own PostgreSQL database. Every write is one statement,
 * committed synchronously (the log is what recovery decides from), fenced by the lease token and renewing
 * the lease; a saga row and its step row change together through a data-modifying CTE. A claim takes
 * unleased unfinished sagas with `FOR UPDATE SKIP LOCKED`, so racing replicas split them, and gives each a
 * new token: a replica whose lease ran out finds its next write refused (`SagaLeaseLostError`).
 */
export class PostgresSagaLog implements SagaLog {
  constructor(private readonly db: Database) {}

  async begin(saga: NewSaga, owner: string, leaseMs: number): Promise<SagaLease> {
    const rows = await this.db.query<{ lease_token: string }>(
      `WITH saga AS (
         INSERT INTO tx_saga (gtid, workflow, input, state, correlation_id, lease_owner, lease_token, lease_until, timeline)
         VALUES ($1, $2, $5::jsonb, 'running', $6, $7, gen_random_uuid(), ${until(3)}, ${startEvent(4, 9)})
         ON CONFLICT (gtid) DO NOTHING
         RETURNING gtid, lease_token),
       steps AS (
         INSERT INTO tx_saga_step (gtid, position, name)
         SELECT saga.gtid, s.ord - 1, s.name FROM saga, unnest($8::text[]) WITH ORDINALITY AS s(name, ord))
       SELECT lease_token FROM saga`,
      [
        saga.gtid,
        saga.workflow,
        leaseMs,
        'started',
        JSON.stringify(saga.input ?? null),
        saga.correlationId ?? null,
        owner,
        saga.steps,
        activeTraceId() ?? null,
      ],
    );
    const [row] = rows;
    if (!row) throw new GtidInUseError(saga.gtid);
    return { gtid: saga.gtid, token: row.lease_token, leaseMs };
  }

  stepStarted(lease: SagaLease, index: number, attempt: number): Promise<void> {
    return this.stepWrite(lease, index, `step ${index} started (attempt ${attempt})`, ['running'], {
      set: `status = 'started', attempts = $7`,
      values: [attempt],
    });
  }

  stepDone(lease: SagaLease, index: number, result: unknown): Promise<void> {
    return this.stepWrite(lease, index, `step ${index} done`, ['running'], {
      set: `status = 'done', result = $7::jsonb`,
      values: [JSON.stringify(result ?? null)],
    });
  }

  stepFailed(lease: SagaLease, index: number, reason: string): Promise<void> {
    return this.stepWrite(lease, index, `step ${index} failed`, ['running'], {
      sagaSet: `state = 'compensating', reason = $7,
                failed_step = (SELECT name FROM tx_saga_step WHERE gtid = $1 AND position = $6)`,
      set: `status = 'failed', error = $7`,
      values: [reason.slice(0, 500)],
    });
  }

  compensationStarted(lease: SagaLease, index: number, attempt: number): Promise<void> {
    return this.stepWrite(lease, index, `step ${index} compensating (attempt ${attempt})`, ['compensating'], {
      set: `status = 'compensating', compensation_attempts = $7`,
      values: [attempt],
    });
  }

  stepCompensated(lease: SagaLease, index: number): Promise<void> {
    return this.stepWrite(lease, index, `step ${index} compensated`, ['compensating'], {
      set: `status = 'compensated'`,
      values: [],
    });
  }

  async finish(lease: SagaLease, outcome: 'completed' | 'aborted'): Promise<void> {
    const rows = await this.db.query(
      `UPDATE tx_saga
          SET state = $3, lease_owner = NULL, lease_token = NULL, lease_until = NULL,
              finished_at = now(), updated_at = now(), timeline = timeline || ${event(3)}
        WHERE gtid = $1 AND lease_token = $2 AND state = $4
        RETURNING gtid`,
      [lease.gtid, lease.token, outcome, outcome === 'completed' ? 'running' : 'compensating'],
    );
    if (rows.length === 0) throw new SagaLeaseLostError(lease.gtid);
  }

  async release(lease: SagaLease, error: string, retryAfterMs: number): Promise<void> {
    const rows = await this.db.query(
      `UPDATE tx_saga
          SET retries = retries + 1, last_error = $5, lease_owner = NULL, lease_token = NULL,
              lease_until = ${until(3)}, updated_at = now(), timeline = timeline || ${event(4)}
        WHERE gtid = $1 AND lease_token = $2 AND state IN ('running', 'compensating')
        RETURNING gtid`,
      [lease.gtid, lease.token, retryAfterMs, 'given back to recovery', error.slice(0, 500)],
    );
    if (rows.length === 0) throw new SagaLeaseLostError(lease.gtid);
  }

  async claimUnfinished(
    owner: string,
    limit: number,
    leaseMs: number,
  ): Promise<{ lease: SagaLease; saga: SagaRecord }[]> {
    const sagas = await this.db.query<SagaRow>(
      `UPDATE tx_saga
          SET lease_owner = $1, lease_token = gen_random_uuid(), lease_until = ${until(3)},
              updated_at = now(), timeline = timeline || ${event(4)}
        WHERE gtid IN (
          SELECT gtid FROM tx_saga
           WHERE state IN ('running', 'compensating') AND (lease_until IS NULL OR lease_until < now())
           ORDER BY lease_until NULLS FIRST LIMIT $2
           FOR UPDATE SKIP LOCKED)
        RETURNING *`,
      [owner, limit, leaseMs, `claimed by ${owner}`],
    );
    if (sagas.length === 0) return [];
    const steps = await stepsOf(
      this.db,
      sagas.map((s) => s.gtid),
    );
    return sagas.map((row) => ({
      lease: { gtid: row.gtid, token: row.lease_token ?? '', leaseMs },
      saga: toRecord(row, steps.get(row.gtid) ?? []),
    }));
  }

  async get(gtid: string): Promise<SagaRecord | undefined> {
    const [row] = await this.db.query<SagaRow>('SELECT * FROM tx_saga WHERE gtid = $1', [gtid]);
    if (!row) return undefined;
    return toRecord(row, (await stepsOf(this.db, [gtid])).get(gtid) ?? []);
  }

  /**
   * One fenced write of a step (and of its saga): only while `lease` is the saga's and the saga is in one
   * of `states`. Parameters: $1 gtid, $2 token, $3 lease ms, $4 event, $5 states, $6 position, $7… values.
   */
  private async stepWrite(
    lease: SagaLease,
    index: number,
    what: string,
    states: SagaState[],
    change: { set: string; sagaSet?: string; values: unknown[] },
  ): Promise<void> {
    const rows = await this.db.query(
      `WITH saga AS (
         UPDATE tx_saga
            SET lease_until = ${until(3)}, updated_at = now(), timeline = timeline || ${event(4)}
                ${change.sagaSet ? `, ${change.sagaSet}` : ''}
          WHERE gtid = $1 AND lease_token = $2 AND state = ANY($5::text[])
          RETURNING gtid)
       UPDATE tx_saga_step s SET ${change.set}, updated_at = now()
         FROM saga WHERE s.gtid = saga.gtid AND s.position = $6
       RETURNING s.gtid`,
      [lease.gtid, lease.token, lease.leaseMs, what, states, index, ...change.values],
    );
    if (rows.length === 0) throw new SagaLeaseLostError(lease.gtid);
  }
}

/** What `/api/transactions` reads of a saga: never its input nor its steps' results (patient data). */
interface BrowsedSagaRow {
  gtid: string;
  workflow: string;
  state: SagaState;
  reason: string | null;
  correlation_id: string | null;
  retries: number;
  last_error: string | null;
  timeline: StoredTimelineEntry[];
  created_at: Date;
  updated_at: Date;
}

const BROWSED_COLUMNS = `gtid, workflow, state, reason, correlation_id, retries, last_error, timeline, created_at,
  updated_at`;

/** `step 2 started (attempt 1)`, as the log's writes word their timeline entries. */
const STEP_EVENT = /^step (\d+) (\S+)(.*)$/;

/**
 * A timeline entry of the log, with the step named instead of numbered, the workflow on the first entry,
 * and the failure in the orchestrator's words, which name the step (`pharmacy refused: out of stock`).
 */
function sagaEvent(event: string, workflow: string, steps: readonly StepRow[]): string {
  if (event === 'started') return `started (${workflow})`;
  const match = STEP_EVENT.exec(event);
  if (!match) return event;
  const step = steps.find((s) => s.position === Number(match[1]));
  const name = step?.name ?? `step ${match[1]}`;
  if (match[2] === 'failed' && step?.error)
    return step.error.startsWith(`${name} `) ? step.error : `${name} failed: ${step.error}`;
  return `${name} ${match[2]}${match[3]}`;
}

const toListed = (row: BrowsedSagaRow, steps: readonly StepRow[]): ListedTransaction => ({
  gtid: row.gtid,
  ...(row.correlation_id === null ? {} : { correlationId: row.correlation_id }),
  style: 'saga',
  state: row.state,
  branches: steps.map((step) => ({
    participant: step.name,
    state: step.status,
    ...(step.error === null ? {} : { reason: step.error }),
  })),
  timeline: row.timeline.map(({ at, event }) => ({
    at: isoInstant(at),
    event: sagaEvent(event, row.workflow, steps),
  })),
  ...traceIdOf(row.timeline),
  // Runs given back to recovery, and every action or compensation attempt past a step's first.
  retries:
    row.retries +
    steps.reduce((sum, s) => sum + Math.max(0, s.attempts - 1) + Math.max(0, s.compensation_attempts - 1), 0),
  ...lastErrorOf(row),
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

/**
 * The saga log as `/api/transactions` lists it (style `saga`): the saga's state (`running`,
 * `compensating`, `completed`, `aborted`), each step as a branch in its own state (`pending`, `started`,
 * `done`, `failed`, `compensating`, `compensated`) with the reason it failed, and the timeline the log's
 * writes appended — start, each action and compensation attempt, the failure, the end, and every time the
 * saga was given back to recovery or claimed by it — with steps named. Filtered and limited in SQL
 * (`tx_saga_created`, `tx_saga_correlation`).
 */
export class PostgresSagaBrowser implements TransactionBrowser {
  constructor(private readonly db: Database) {}

  async list(query: TransactionQuery): Promise<ListedTransaction[]> {
    if (query.style !== undefined && query.style !== 'saga') return [];
    const rows = await browsedRows<BrowsedSagaRow>(this.db, 'tx_saga', BROWSED_COLUMNS, query);
    if (rows.length === 0) return [];
    const steps = await stepsOf(
      this.db,
      rows.map((row) => row.gtid),
    );
    return rows.map((row) => toListed(row, steps.get(row.gtid) ?? []));
  }

  async get(gtid: string): Promise<ListedTransaction | undefined> {
    const [row] = await this.db.query<BrowsedSagaRow>(
      `SELECT ${BROWSED_COLUMNS} FROM tx_saga WHERE gtid = $1`,
      [gtid],
    );
    return row && toListed(row, (await stepsOf(this.db, [gtid])).get(gtid) ?? []);
  }
}
