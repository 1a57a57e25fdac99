import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { eventually } from '@hospital/platform/testing/waiting';
import {
  defineSaga,
  GtidInUseError,
  PostgresSagaLog,
  protocolPointsOf,
  SagaLeaseLostError,
  SagaOrchestrator,
  SagaOrchestratorOptions,
  SagaUnfinishedError,
  SagaWorkflow,
  sagaMigrations,
  StepRefusedError,
} from '@hospital/transactions';

/**
 * The saga log against the real PostgreSQL: a saga runs to completion or compensates in reverse with its
 * log written before each step; an orchestrator that dies anywhere in a saga leaves it to recovery, which
 * resumes it forward or compensates it; two orchestrator replicas (each with its own pool) racing over the
 * same unfinished sagas run each one with exactly one of them; and a replica whose lease was taken over
 * can no longer write.
 */
jest.setTimeout(60_000);

interface PlanInput {
  patient: string;
  /** The pharmacy step refuses (no stock): the saga compensates. */
  refuse: boolean;
}

/**
 * The participants (appointments, pacs, pharmacy): effects keyed by gtid + step, idempotent, a late
 * action after its compensation refused. Every call is recorded with the orchestrator that made it, and
 * two calls for one saga in flight at once are recorded as an overlap.
 */
class Participants {
  readonly effects = new Map<string, 'applied' | 'compensated' | 'voided'>();
  readonly callers = new Map<string, string[]>();
  readonly overlaps: string[] = [];
  private readonly inFlight = new Set<string>();

  workflow(caller: string): SagaWorkflow<PlanInput> {
    const step = (name: string) => ({
      name,
      action: (input: PlanInput, { gtid }: { gtid: string }) =>
        this.call(caller, gtid, () => {
          const key = `${gtid}/${name}`;
          const state = this.effects.get(key);
          if (state === 'compensated' || state === 'voided') throw new StepRefusedError('cancelled');
          if (name === 'pharmacy' && input.refuse) throw new StepRefusedError('out of stock');
          this.effects.set(key, 'applied');
          return { reference: key };
        }),
      compensate: (_input: PlanInput, { gtid }: { gtid: string }) =>
        this.call(caller, gtid, () => {
          const key = `${gtid}/${name}`;
          this.effects.set(key, this.effects.get(key) === 'applied' ? 'compensated' : 'voided');
        }),
    });
    return defineSaga<PlanInput>('treatment-plan', [step('appointments'), step('pacs'), step('pharmacy')]);
  }

  applied(gtid: string): string[] {
    return ['appointments', 'pacs', 'pharmacy'].filter((s) => this.effects.get(`${gtid}/${s}`) === 'applied');
  }

  private async call<T>(caller: string, gtid: string, effect: () => T): Promise<T> {
    if (this.inFlight.has(gtid)) this.overlaps.push(gtid);
    this.inFlight.add(gtid);
    this.callers.set(gtid, [...(this.callers.get(gtid) ?? []), caller]);
    try {
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 4)));
      return effect();
    } finally {
      this.inFlight.delete(gtid);
    }
  }
}

describe('orchestrated saga over PostgreSQL', () => {
  let drop: () => Promise<void>;
  const databases: Database[] = [];
  let settings: Awaited<ReturnType<typeof createTestDatabase>>['settings'];

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_saga', sagaMigrations);
    drop = created.drop;
    settings = created.settings;
  });

  afterAll(async () => {
    await Promise.all(databases.map((db) => db.close()));
    await drop?.();
  });

  /** A replica: its own pool, log and orchestrator. */
  function replica(
    participants: Participants,
    name: string,
    options: Partial<SagaOrchestratorOptions> = {},
  ): { orchestrator: SagaOrchestrator; log: PostgresSagaLog; workflow: SagaWorkflow<PlanInput> } {
    const db = new Database({ ...settings, poolSize: 4 }, `saga-test-${name}`);
    databases.push(db);
    const log = new PostgresSagaLog(db);
    const workflow = participants.workflow(name);
    const orchestrator = new SagaOrchestrator(log, [workflow], {
      name,
      // Generous: a live replica must never lose its lease on a loaded machine. Dying ones pass a short one.
      leaseMs: 5_000,
      stepTimeoutMs: 2_000,
      retryBaseMs: 5,
      retryMaxMs: 20,
      recoveryBatch: 5,
      ...options,
    });
    return { orchestrator, log, workflow };
  }

  const unfinished = async (db: Database): Promise<number> => {
    const [row] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM tx_saga WHERE state IN ('running', 'compensating')`,
    );
    return row.n;
  };

  it('logs a saga step by step to completion, and one that fails compensates it in reverse', async () => {
    const participants = new Participants();
    const { orchestrator, log, workflow } = replica(participants, 'care-plans-a');

    const done = await orchestrator.start(
      workflow,
      { patient: 'p1', refuse: false },
      { correlationId: 'req-1' },
    );
    expect(done).toMatchObject({
      outcome: 'completed',
      results: { pacs: { reference: `${done.gtid}/pacs` } },
    });
    expect(await log.get(done.gtid)).toMatchObject({
      workflow: 'treatment-plan',
      input: { patient: 'p1', refuse: false },
      state: 'completed',
      correlationId: 'req-1',
      steps: [
        {
          name: 'appointments',
          status: 'done',
          attempts: 1,
          result: { reference: `${done.gtid}/appointments` },
        },
        { name: 'pacs', status: 'done', attempts: 1 },
        { name: 'pharmacy', status: 'done', attempts: 1 },
      ],
    });
    await expect(
      log.begin({ gtid: done.gtid, workflow: 'treatment-plan', input: {}, steps: ['a'] }, 'x', 1_000),
    ).rejects.toBeInstanceOf(GtidInUseError);

    const refused = await orchestrator.start(workflow, { patient: 'p2', refuse: true });
    expect(refused).toMatchObject({ outcome: 'aborted', failedStep: 'pharmacy', compensated: true });
    const record = await log.get(refused.gtid);
    expect(record).toMatchObject({
      state: 'aborted',
      failedStep: 'pharmacy',
      reason: 'pharmacy refused: out of stock',
    });
    expect(record?.steps.map((s) => s.status)).toEqual(['compensated', 'compensated', 'compensated']);
    expect(participants.applied(refused.gtid)).toEqual([]);
    const [{ timeline }] = await databases[0].query<{ timeline: { event: string }[] }>(
      'SELECT timeline FROM tx_saga WHERE gtid = $1',
      [refused.gtid],
    );
    expect(timeline.map((t) => t.event)).toEqual([
      'started',
      'step 0 started (attempt 1)',
      'step 0 done',
      'step 1 started (attempt 1)',
      'step 1 done',
      'step 2 started (attempt 1)',
      'step 2 failed',
      'step 2 compensating (attempt 1)',
      'step 2 compensated',
      'step 1 compensating (attempt 1)',
      'step 1 compensated',
      'step 0 compensating (attempt 1)',
      'step 0 compensated',
      'aborted',
    ]);
  });

  it('resumes a saga whose orchestrator died mid-step; a replica that lost its lease can no longer write', async () => {
    const participants = new Participants();
    let kill = true;
    const dying = replica(participants, 'care-plans-dying', {
      leaseMs: 1_500,
      stepTimeoutMs: 500,
      // Dies once pacs applied its step, before the step is logged done.
      points: (point, gtid) => {
        if (kill && point === 'saga.orchestrator.after-action' && participants.effects.has(`${gtid}/pacs`))
          throw new Error('process killed');
      },
    });
    const error: unknown = await dying.orchestrator
      .start(dying.workflow, { patient: 'p3', refuse: false })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SagaUnfinishedError);
    kill = false;
    const { gtid } = error as SagaUnfinishedError;
    expect((await dying.log.get(gtid))?.steps.map((s) => s.status)).toEqual(['done', 'started', 'pending']);

    const heir = replica(participants, 'care-plans-heir');
    expect(await heir.orchestrator.recover()).toBe(0); // the dead replica's lease still holds
    // Claimed once the lease runs out.
    expect(
      await eventually(
        () => heir.orchestrator.recover(),
        (n) => n > 0,
      ),
    ).toBe(1);
    expect((await heir.log.get(gtid))?.state).toBe('completed');
    expect(participants.applied(gtid)).toEqual(['appointments', 'pacs', 'pharmacy']);
    // pacs ran twice (its success was never logged), appointments once.
    expect(participants.callers.get(gtid)).toEqual([
      'care-plans-dying',
      'care-plans-dying',
      'care-plans-heir',
      'care-plans-heir',
    ]);

    // A lease taken over: the old holder's writes are refused.
    const first = await heir.log.begin(
      { gtid: `${gtid}-x`, workflow: 'treatment-plan', input: {}, steps: ['appointments'] },
      'care-plans-heir',
      50,
    );
    await new Promise((resolve) => setTimeout(resolve, 80));
    const [taken] = await dying.log.claimUnfinished('care-plans-dying', 10, 10_000);
    expect(taken.lease.gtid).toBe(`${gtid}-x`);
    await expect(heir.log.stepStarted(first, 0, 1)).rejects.toBeInstanceOf(SagaLeaseLostError);
    await dying.log.stepStarted(taken.lease, 0, 1);
    await dying.log.stepFailed(taken.lease, 0, 'test');
    await dying.log.compensationStarted(taken.lease, 0, 1);
    await dying.log.stepCompensated(taken.lease, 0);
    await dying.log.finish(taken.lease, 'aborted');
    await expect(dying.log.finish(taken.lease, 'aborted')).rejects.toBeInstanceOf(SagaLeaseLostError);
  });

  it('two replicas racing over the same unfinished sagas run each with exactly one of them', async () => {
    const participants = new Participants();
    const points = protocolPointsOf('saga');
    const count = 40;
    // Each saga dies at one protocol point (cycling), the first time its orchestrator announces it.
    const dyingAt = new Map<number, string>();
    let next = 0;
    const gtids: string[] = [];
    const dying = replica(participants, 'care-plans-dying', {
      leaseMs: 400,
      stepTimeoutMs: 200,
      points: (point, gtid) => {
        if (!dyingAt.has(next)) return;
        if (point === dyingAt.get(next)) {
          dyingAt.delete(next);
          throw new Error(`process killed at ${point} in ${gtid}`);
        }
      },
    });
    for (next = 0; next < count; next += 1) {
      dyingAt.set(next, points[next % points.length]);
      const refuse = next % 5 >= 3; // the failure and compensation points need a failing saga
      const result = await dying.orchestrator.start(dying.workflow, { patient: `p${next}`, refuse }).then(
        (r) => ({ gtid: r.gtid, unfinished: false }),
        (e: unknown) => ({ gtid: (e as SagaUnfinishedError).gtid, unfinished: true }),
      );
      expect(result.unfinished).toBe(true);
      gtids.push(result.gtid);
    }
    const db = databases.at(-1) as Database;
    expect(await unfinished(db)).toBe(count);
    const callsBefore = new Map(gtids.map((g) => [g, participants.callers.get(g)?.length ?? 0]));

    // The sweeps find nothing until the dead replica's leases run out, then split the sagas.
    const replicas = [replica(participants, 'care-plans-a'), replica(participants, 'care-plans-b')];
    const sweep = async (r: { orchestrator: SagaOrchestrator }): Promise<number> => {
      let finished = 0;
      while ((await unfinished(db)) > 0) {
        const now = await r.orchestrator.recover();
        finished += now;
        // The other replica holds what is left: look again shortly.
        if (now === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return finished;
    };
    const finished = await Promise.all(replicas.map(sweep));

    expect(finished[0] + finished[1]).toBe(count);
    expect(participants.overlaps).toEqual([]);
    for (const [i, gtid] of gtids.entries()) {
      const record = await db.query<{ state: string }>('SELECT state FROM tx_saga WHERE gtid = $1', [gtid]);
      const refuse = i % 5 >= 3;
      expect({ gtid, state: record[0].state }).toEqual({ gtid, state: refuse ? 'aborted' : 'completed' });
      expect(participants.applied(gtid)).toEqual(refuse ? [] : ['appointments', 'pacs', 'pharmacy']);
      const after = (participants.callers.get(gtid) ?? []).slice(callsBefore.get(gtid));
      expect(new Set(after).size).toBe(1);
    }
  });
});
