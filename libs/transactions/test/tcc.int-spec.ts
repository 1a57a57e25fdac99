import { Database, SqlExecutor } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { eventually } from '@hospital/platform/testing/waiting';
import {
  defineTcc,
  PostgresTccBarrier,
  PostgresTccLog,
  ProtocolPoint,
  TccCoordinator,
  TccCoordinatorOptions,
  tccBarrierMigrations,
  tccLogMigrations,
  TccUnfinishedError,
  TccWorkflow,
} from '@hospital/transactions';

/**
 * The TCC coordinator over its PostgreSQL log, with participants behind the PostgreSQL barrier in their
 * own database: a plan confirmed in every branch, one cancelled in every branch when the pharmacy refuses,
 * a coordinator that stopped before its Tries or after its decision settled by another replica, and two
 * replicas (separate pools) recovering 24 stopped transactions side by side — every one settled, every
 * effect once, a late Try of a cancelled branch refused.
 */
jest.setTimeout(60_000);

interface PlanInput {
  refuse: boolean;
}

const BRANCHES = ['appointments', 'pacs', 'pharmacy'];

class Stopped extends Error {}

describe('TCC coordinator over PostgreSQL', () => {
  const drops: (() => Promise<void>)[] = [];
  const pools: Database[] = [];
  let coordinatorSettings: Awaited<ReturnType<typeof createTestDatabase>>['settings'];
  let participants: Database;
  const barrier = new PostgresTccBarrier();

  beforeAll(async () => {
    const log = await createTestDatabase('txlib_tcc_log', tccLogMigrations);
    const part = await createTestDatabase('txlib_tcc', tccBarrierMigrations);
    drops.push(log.drop, part.drop);
    coordinatorSettings = log.settings;
    participants = new Database({ ...part.settings, poolSize: 8 }, 'tcc-participants');
    pools.push(participants);
    await participants.query(
      `CREATE TABLE tcc_effect (gtid text NOT NULL, branch text NOT NULL, effect text NOT NULL)`,
    );
  });

  afterAll(async () => {
    await Promise.all(pools.map((db) => db.close()));
    for (const drop of drops) await drop();
  });

  const effect = (gtid: string, branch: string, name: string) => (tx: SqlExecutor) =>
    tx.query('INSERT INTO tcc_effect (gtid, branch, effect) VALUES ($1, $2, $3)', [gtid, branch, name]);

  /** The three participants, each a local transaction behind the barrier. */
  const workflow: TccWorkflow<PlanInput> = defineTcc<PlanInput>(
    'treatment-plan',
    BRANCHES.map((name) => ({
      name,
      try: async (input, { gtid, branch }) =>
        participants.transaction((tx) =>
          barrier.try(tx, { gtid, branch }, async (t) => {
            if (branch === 'pharmacy' && input.refuse) throw new Error('out of stock');
            await effect(gtid, branch, 'reserve')(t);
          }),
        ),
      confirm: async (_input, { gtid, branch }) => {
        await participants.transaction((tx) =>
          barrier.confirm(tx, { gtid, branch }, effect(gtid, branch, 'apply')),
        );
      },
      cancel: async (_input, { gtid, branch }) => {
        await participants.transaction((tx) =>
          barrier.cancel(tx, { gtid, branch }, effect(gtid, branch, 'release')),
        );
      },
    })),
  );

  /** A replica: its own pool, log and coordinator; `stopAt` makes it stop (throw) at that point. */
  function replica(name: string, stopAt?: ProtocolPoint, options: Partial<TccCoordinatorOptions> = {}) {
    const db = new Database({ ...coordinatorSettings, poolSize: 4 }, `tcc-test-${name}`);
    pools.push(db);
    const log = new PostgresTccLog(db);
    const coordinator = new TccCoordinator(log, [workflow], {
      name,
      leaseMs: 5_000,
      callTimeoutMs: 2_000,
      retryBaseMs: 5,
      retryMaxMs: 20,
      recoveryBatch: 5,
      points: (point) => {
        if (point === stopAt) throw new Stopped(`stopped at ${point}`);
      },
      ...options,
    });
    return { coordinator, log, db };
  }

  const effectsOf = async (gtid: string): Promise<Record<string, string[]>> => {
    const rows = await participants.query<{ branch: string; effect: string }>(
      'SELECT branch, effect FROM tcc_effect WHERE gtid = $1 ORDER BY branch, effect',
      [gtid],
    );
    const by: Record<string, string[]> = {};
    for (const r of rows) by[r.branch] = [...(by[r.branch] ?? []), r.effect];
    return by;
  };

  /** Runs a transaction on a replica that stops at `point`; its gtid, from the TccUnfinishedError. */
  const stoppedRun = (name: string, point: ProtocolPoint, input: PlanInput): Promise<string> =>
    // Time-outs generous enough that a Try never times out on a loaded machine; the lease short.
    replica(name, point, { leaseMs: 1_200, callTimeoutMs: 1_000 })
      .coordinator.run(workflow, input)
      .then(
        () => {
          throw new Error(`${name} was expected to stop at ${point}`);
        },
        (error: unknown) => {
          expect(error).toBeInstanceOf(TccUnfinishedError);
          return (error as TccUnfinishedError).gtid;
        },
      );

  const unfinished = async (db: Database): Promise<number> => {
    const [{ n }] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM tx_tcc WHERE state IN ('trying', 'confirming', 'cancelling')`,
    );
    return n;
  };

  it('confirms every branch once every try reserved', async () => {
    const { coordinator, log } = replica('care-plans-a');
    const result = await coordinator.run(workflow, { refuse: false }, { correlationId: 'req-1' });
    expect(result).toMatchObject({ outcome: 'confirmed', settled: true });
    expect(await log.get(result.gtid)).toMatchObject({
      state: 'confirmed',
      correlationId: 'req-1',
      branches: BRANCHES,
    });
    expect(await effectsOf(result.gtid)).toEqual({
      appointments: ['apply', 'reserve'],
      pacs: ['apply', 'reserve'],
      pharmacy: ['apply', 'reserve'],
    });
  });

  it('cancels every branch when the pharmacy refuses, reporting its reason', async () => {
    const { coordinator, log } = replica('care-plans-b');
    const result = await coordinator.run(workflow, { refuse: true });
    expect(result).toMatchObject({ outcome: 'cancelled', failedBranch: 'pharmacy', settled: true });
    expect(result.outcome === 'cancelled' && result.reason).toContain('out of stock');
    expect(await log.get(result.gtid)).toMatchObject({ state: 'cancelled' });
    expect(await effectsOf(result.gtid)).toEqual({
      appointments: ['release', 'reserve'],
      pacs: ['release', 'reserve'],
    });
  });

  it('settles on another replica: confirms after a logged decision, cancels one stopped before its tries', async () => {
    const decided = await stoppedRun('care-plans-c', 'tcc.coordinator.after-decision', { refuse: false });
    const untried = await stoppedRun('care-plans-d', 'tcc.coordinator.before-try', { refuse: false });
    const { coordinator, log, db } = replica('care-plans-e');
    const left = await eventually(
      async () => {
        await coordinator.recover();
        return unfinished(db);
      },
      (n) => n === 0,
    );
    expect(left).toBe(0);
    expect((await log.get(decided))?.state).toBe('confirmed');
    expect((await log.get(untried))?.state).toBe('cancelled');
    expect(await effectsOf(decided)).toEqual({
      appointments: ['apply', 'reserve'],
      pacs: ['apply', 'reserve'],
      pharmacy: ['apply', 'reserve'],
    });
    expect(await effectsOf(untried)).toEqual({});
    // The stopped coordinator's Try landing now is refused: the cancel came first.
    const late = await participants.transaction((tx) =>
      barrier.try(tx, { gtid: untried, branch: 'pacs' }, effect(untried, 'pacs', 'reserve')),
    );
    expect(late).toEqual({ ran: false, skipped: 'cancelled' });
    expect(await effectsOf(untried)).toEqual({});
  });

  it('two replicas recovering side by side settle every stopped transaction, every effect once', async () => {
    const points: ProtocolPoint[] = ['tcc.coordinator.before-try', 'tcc.coordinator.after-decision'];
    const stopped: string[] = [];
    for (let i = 0; i < 24; i += 1)
      stopped.push(await stoppedRun(`care-plans-dying-${i}`, points[i % 2], { refuse: i % 3 === 0 }));
    const a = replica('care-plans-f');
    const b = replica('care-plans-g');
    const left = await eventually(
      async () => {
        await Promise.all([a.coordinator.recover(), b.coordinator.recover()]);
        return unfinished(a.db);
      },
      (n) => n === 0,
    );
    expect(left).toBe(0);
    for (const [i, gtid] of stopped.entries()) {
      const record = await a.log.get(gtid);
      const effects = await effectsOf(gtid);
      if (i % 2 === 1 && i % 3 !== 0) {
        expect(record?.state).toBe('confirmed');
        for (const branch of BRANCHES) expect(effects[branch]).toEqual(['apply', 'reserve']);
      } else {
        expect(record?.state).toBe('cancelled');
        for (const branch of BRANCHES) expect(effects[branch] ?? []).not.toContain('apply');
        for (const list of Object.values(effects)) expect(list).toEqual(['release', 'reserve']);
      }
    }
  });
});
