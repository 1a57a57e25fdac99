import { randomUUID } from 'node:crypto';
import { Clock } from '../core/clock';
import {
  NewSaga,
  SagaLease,
  SagaLeaseLostError,
  SagaLog,
  SagaRecord,
  SagaState,
  SagaStepStatus,
} from '../ports/saga.ports';
import { GtidInUseError } from '../two-phase-commit/types';

/** One saga row and its step rows, as `tx_saga` and `tx_saga_step` hold them. */
export interface StoredSaga {
  record: SagaRecord;
  lease?: { owner: string; token: string; until: number };
  /** Every event written, in order (the `timeline` column). */
  timeline: string[];
}

const SAGA_MOVES: Record<SagaState, readonly SagaState[]> = {
  running: ['running', 'compensating', 'completed'],
  compensating: ['compensating', 'aborted'],
  completed: [],
  aborted: [],
};

const STEP_MOVES: Record<SagaStepStatus, readonly SagaStepStatus[]> = {
  pending: ['started'],
  started: ['started', 'done', 'failed', 'compensating'],
  done: ['compensating'],
  failed: ['compensating'],
  compensating: ['compensating', 'compensated'],
  compensated: [],
};

const json = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

function copy(record: SagaRecord): SagaRecord {
  return {
    ...json({ ...record, createdAt: undefined, updatedAt: undefined }),
    createdAt: new Date(record.createdAt),
    updatedAt: new Date(record.updatedAt),
  };
}

/**
 * The saga log's database, shared by every orchestrator replica and surviving their crashes. Every write
 * is durable (the PostgreSQL log commits each synchronously). Illegal state changes are recorded in
 * `violations` rather than thrown, so the property spec reports them with the schedule that caused them.
 */
export class SagaLogStore {
  readonly sagas = new Map<string, StoredSaga>();
  readonly violations: string[] = [];

  constructor(readonly clock: Pick<Clock, 'now'>) {}

  /** The lease in force on a saga (an expired one counts until another claim replaces it). */
  leaseOf(gtid: string): StoredSaga['lease'] {
    return this.sagas.get(gtid)?.lease;
  }

  /** Applies a fenced write: refused unless `lease` is the saga's lease; renews it. */
  write(
    lease: SagaLease,
    event: string,
    change: (saga: StoredSaga, now: number) => void,
    states: readonly SagaState[] = ['running', 'compensating'],
  ): void {
    const saga = this.sagas.get(lease.gtid);
    if (!saga || saga.lease?.token !== lease.token || !states.includes(saga.record.state))
      throw new SagaLeaseLostError(lease.gtid);
    const now = this.clock.now();
    change(saga, now);
    // Renewed, unless the write released it (`finish`, `release`).
    if (saga.lease?.token === lease.token) saga.lease.until = now + lease.leaseMs;
    saga.record.updatedAt = new Date(now);
    saga.timeline.push(event);
  }

  moveSaga(saga: StoredSaga, to: SagaState): void {
    if (!SAGA_MOVES[saga.record.state].includes(to))
      this.violations.push(`saga log: ${saga.record.gtid} moved ${saga.record.state} → ${to}`);
    saga.record.state = to;
  }

  moveStep(saga: StoredSaga, index: number, to: SagaStepStatus): void {
    const step = saga.record.steps[index];
    if (!step) {
      this.violations.push(`saga log: ${saga.record.gtid} has no step ${index}`);
      return;
    }
    if (!STEP_MOVES[step.status].includes(to))
      this.violations.push(`saga log: ${saga.record.gtid} step ${step.name} moved ${step.status} → ${to}`);
    step.status = to;
  }
}

/**
 * `SagaLog` over a `SagaLogStore`, mirroring `PostgresSagaLog`: every call is one atomic step; writes are
 * fenced by the lease token and renew the lease; a claim takes only sagas whose lease ran out or was
 * released, and gives each a new token.
 */
export class InMemorySagaLog implements SagaLog {
  constructor(readonly store: SagaLogStore) {}

  private get now(): number {
    return this.store.clock.now();
  }

  begin(saga: NewSaga, owner: string, leaseMs: number): Promise<SagaLease> {
    return Promise.resolve().then(() => {
      if (this.store.sagas.has(saga.gtid)) throw new GtidInUseError(saga.gtid);
      const now = this.now;
      const token = randomUUID();
      this.store.sagas.set(saga.gtid, {
        record: {
          gtid: saga.gtid,
          workflow: saga.workflow,
          input: json(saga.input),
          state: 'running',
          steps: saga.steps.map((name, index) => ({
            index,
            name,
            status: 'pending',
            attempts: 0,
            compensationAttempts: 0,
          })),
          ...(saga.correlationId === undefined ? {} : { correlationId: saga.correlationId }),
          retries: 0,
          createdAt: new Date(now),
          updatedAt: new Date(now),
        },
        lease: { owner, token, until: now + leaseMs },
        timeline: ['started'],
      });
      return { gtid: saga.gtid, token, leaseMs };
    });
  }

  stepStarted(lease: SagaLease, index: number, attempt: number): Promise<void> {
    return this.write(lease, `step ${index} started (attempt ${attempt})`, (saga) => {
      this.store.moveStep(saga, index, 'started');
      saga.record.steps[index].attempts = attempt;
    });
  }

  stepDone(lease: SagaLease, index: number, result: unknown): Promise<void> {
    return this.write(lease, `step ${index} done`, (saga) => {
      if (saga.record.state !== 'running')
        this.store.violations.push(`saga log: ${lease.gtid} step ${index} done while ${saga.record.state}`);
      this.store.moveStep(saga, index, 'done');
      saga.record.steps[index].result = json(result);
    });
  }

  stepFailed(lease: SagaLease, index: number, reason: string): Promise<void> {
    return this.write(lease, `step ${index} failed`, (saga) => {
      this.store.moveStep(saga, index, 'failed');
      saga.record.steps[index].error = reason;
      this.store.moveSaga(saga, 'compensating');
      saga.record.failedStep = saga.record.steps[index].name;
      saga.record.reason = reason;
    });
  }

  compensationStarted(lease: SagaLease, index: number, attempt: number): Promise<void> {
    return this.write(
      lease,
      `step ${index} compensating (attempt ${attempt})`,
      (saga) => {
        this.store.moveStep(saga, index, 'compensating');
        saga.record.steps[index].compensationAttempts = attempt;
      },
      ['compensating'],
    );
  }

  stepCompensated(lease: SagaLease, index: number): Promise<void> {
    return this.write(
      lease,
      `step ${index} compensated`,
      (saga) => this.store.moveStep(saga, index, 'compensated'),
      ['compensating'],
    );
  }

  finish(lease: SagaLease, outcome: 'completed' | 'aborted'): Promise<void> {
    return this.write(
      lease,
      outcome,
      (saga) => {
        const open = saga.record.steps.filter((s) =>
          outcome === 'completed' ? s.status !== 'done' : !['pending', 'compensated'].includes(s.status),
        );
        if (open.length > 0)
          this.store.violations.push(
            `saga log: ${lease.gtid} ${outcome} with steps ${open.map((s) => `${s.name}:${s.status}`).join(', ')}`,
          );
        this.store.moveSaga(saga, outcome);
        saga.lease = undefined;
      },
      [outcome === 'completed' ? 'running' : 'compensating'],
    );
  }

  release(lease: SagaLease, error: string, retryAfterMs: number): Promise<void> {
    return this.write(lease, 'released', (saga, now) => {
      saga.record.retries += 1;
      saga.record.lastError = error;
      // Nobody holds it; claimable once the delay is over.
      saga.lease = { owner: '', token: '', until: now + retryAfterMs };
    });
  }

  claimUnfinished(
    owner: string,
    limit: number,
    leaseMs: number,
  ): Promise<{ lease: SagaLease; saga: SagaRecord }[]> {
    return Promise.resolve().then(() => {
      const now = this.now;
      return [...this.store.sagas.values()]
        .filter((s) => s.record.state === 'running' || s.record.state === 'compensating')
        .filter((s) => !s.lease || s.lease.until < now)
        .sort((a, b) => (a.lease?.until ?? 0) - (b.lease?.until ?? 0))
        .slice(0, Math.max(0, limit))
        .map((s) => {
          const token = randomUUID();
          s.lease = { owner, token, until: now + leaseMs };
          s.timeline.push(`claimed by ${owner}`);
          return { lease: { gtid: s.record.gtid, token, leaseMs }, saga: copy(s.record) };
        });
    });
  }

  get(gtid: string): Promise<SagaRecord | undefined> {
    return Promise.resolve().then(() => {
      const saga = this.store.sagas.get(gtid);
      return saga && copy(saga.record);
    });
  }

  private write(
    lease: SagaLease,
    event: string,
    change: (saga: StoredSaga, now: number) => void,
    states?: readonly SagaState[],
  ): Promise<void> {
    return Promise.resolve().then(() => this.store.write(lease, event, change, states));
  }
}
