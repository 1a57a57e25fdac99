import { Database, Session } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  branchGid,
  ParticipantClient,
  PostgresPreparedResource,
  PostgresTwoPhaseLog,
  TransactionAbortedError,
  transactionLogMigrations,
  TwoPhaseCoordinator,
  TwoPhaseParticipant,
  newGtid,
} from '@hospital/transactions';

/**
 * The 2PC adapters against the real PostgreSQL: a coordinator database and two participant databases,
 * each a fresh copy of the migrated template, with participants reached in-process (no HTTP here; the
 * services' integration specs cover the HTTP contract).
 */
describe('two-phase commit over PostgreSQL prepared transactions', () => {
  const dbs: { db: Database; drop: () => Promise<void> }[] = [];
  let coordinatorDb: Database;
  let participantDbs: Database[];

  const open = async (): Promise<Database> => {
    const { settings, drop } = await createTestDatabase('txlib', transactionLogMigrations);
    const db = new Database(settings, 'tx-test');
    await db.query('CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, owner text NOT NULL)');
    dbs.push({ db, drop });
    return db;
  };

  beforeAll(async () => {
    coordinatorDb = await open();
    participantDbs = [await open(), await open()];
  });

  afterAll(async () => {
    for (const { db, drop } of dbs) {
      await db.close();
      await drop();
    }
  });

  const orderIn = async (db: Database, id: string) =>
    (await db.query('SELECT 1 FROM orders WHERE id = $1', [id])).length;
  const prepared = async (db: Database) =>
    (
      await db.query<{ gid: string }>('SELECT gid FROM pg_prepared_xacts WHERE database = current_database()')
    ).map((r) => r.gid);

  /** Participants whose business step inserts an order row, or refuses when the payload says so. */
  function participants(): { resources: PostgresPreparedResource[]; clients: ParticipantClient[] } {
    const resources = participantDbs.map((db) => new PostgresPreparedResource(db));
    const clients = resources.map((resource, i): ParticipantClient => {
      const core = new TwoPhaseParticipant<Session>(
        resource,
        { outcome: (_c, gtid) => coordinator().outcome(gtid) },
        async (tx, payload) => {
          const { id, refuse } = payload as { id: string; refuse?: boolean };
          if (refuse) throw new Error('order rejected by the department');
          await tx.query('INSERT INTO orders (id, owner) VALUES ($1, $2)', [id, `p${i}`]);
        },
      );
      return {
        name: `p${i}`,
        prepare: (gtid, coordinatorName, payload) => core.prepare(gtid, coordinatorName, payload),
        commit: (gtid) => core.commit(gtid, 'emr'),
        abort: (gtid) => core.abort(gtid, 'emr'),
      };
    });
    return { resources, clients };
  }

  let shared: ReturnType<typeof participants>;
  const coordinator = () =>
    new TwoPhaseCoordinator<Session>(new PostgresTwoPhaseLog(coordinatorDb), shared.clients, {
      name: 'emr',
      voteTimeoutMs: 2_000,
    });

  beforeEach(() => {
    shared = participants();
  });

  it('commits in every database, with the coordinator writes in the decision transaction', async () => {
    const gtid = newGtid();
    const result = await coordinator().execute({
      gtid,
      branches: [
        { participant: 'p0', payload: { id: `${gtid}-a` } },
        { participant: 'p1', payload: { id: `${gtid}-b` } },
      ],
      local: async (tx) =>
        void (await tx.query('INSERT INTO orders (id, owner) VALUES ($1, $2)', [`${gtid}-c`, 'coordinator'])),
    });
    expect(result).toEqual({ gtid, outcome: 'committed', acknowledged: true });
    expect(await orderIn(participantDbs[0], `${gtid}-a`)).toBe(1);
    expect(await orderIn(participantDbs[1], `${gtid}-b`)).toBe(1);
    expect(await orderIn(coordinatorDb, `${gtid}-c`)).toBe(1);
    expect(await prepared(participantDbs[0])).toEqual([]);
    expect(await new PostgresTwoPhaseLog(coordinatorDb).state(gtid)).toBe('committed');
  });

  it('aborts everywhere when one participant votes NO, and reports its reason', async () => {
    const gtid = newGtid();
    const run = coordinator().execute({
      gtid,
      branches: [
        { participant: 'p0', payload: { id: `${gtid}-a` } },
        { participant: 'p1', payload: { id: `${gtid}-b`, refuse: true } },
      ],
      local: async (tx) =>
        void (await tx.query('INSERT INTO orders (id, owner) VALUES ($1, $2)', [`${gtid}-c`, 'coordinator'])),
    });
    await expect(run).rejects.toThrow(TransactionAbortedError);
    await expect(run).rejects.toThrow(/order rejected by the department/);
    expect(await orderIn(participantDbs[0], `${gtid}-a`)).toBe(0);
    expect(await orderIn(coordinatorDb, `${gtid}-c`)).toBe(0);
    expect(await prepared(participantDbs[0])).toEqual([]);
    expect(await new PostgresTwoPhaseLog(coordinatorDb).state(gtid)).toBe('aborted');
  });

  it('keeps a prepared branch across the participant losing its connection, and commits it later', async () => {
    const gtid = newGtid();
    const [resource] = shared.resources;
    const vote = await resource.prepare(gtid, 'emr', async (tx) => {
      await tx.query('INSERT INTO orders (id, owner) VALUES ($1, $2)', [gtid, 'p0']);
    });
    expect(vote).toEqual({ vote: 'yes' });
    expect(await prepared(participantDbs[0])).toContain(
      branchGid('emr', gtid, participantDbs[0].settings.database),
    );
    expect(await orderIn(participantDbs[0], gtid)).toBe(0);
    // Prepare again (a duplicate request): same vote, nothing new.
    expect(await resource.prepare(gtid, 'emr', () => Promise.reject(new Error('must not run')))).toEqual({
      vote: 'yes',
    });
    expect(await resource.commit(gtid, 'emr')).toBe('committed');
    expect(await resource.commit(gtid, 'emr')).toBe('committed');
    expect(await orderIn(participantDbs[0], gtid)).toBe(1);
    expect(await resource.commit(newGtid(), 'emr')).toBe('unknown');
  });

  it('turns a prepare that arrives after its abort into a NO vote', async () => {
    const gtid = newGtid();
    const [resource] = shared.resources;
    await resource.abort(gtid, 'emr');
    const vote = await resource.prepare(gtid, 'emr', async (tx) => {
      await tx.query('INSERT INTO orders (id, owner) VALUES ($1, $2)', [gtid, 'p0']);
    });
    expect(vote.vote).toBe('no');
    expect(await prepared(participantDbs[0])).not.toContain(
      branchGid('emr', gtid, participantDbs[0].settings.database),
    );
    expect(await orderIn(participantDbs[0], gtid)).toBe(0);
  });

  it('keeps a business step that writes only after the branch failed to open inside the failed branch', async () => {
    const gtid = newGtid();
    const [resource] = shared.resources;
    await resource.abort(gtid, 'emr');
    // The step is under way before the opening's answer arrives, and writes after it.
    const vote = await resource.prepare(gtid, 'emr', async (tx) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await tx.query('INSERT INTO orders (id, owner) VALUES ($1, $2)', [gtid, 'p0']);
    });
    expect(vote).toEqual({ vote: 'no', reason: 'branch already aborted' });
    expect(await orderIn(participantDbs[0], gtid)).toBe(0);
  });

  it('presumes abort for an inquiry before any decision, and the coordinator cannot commit afterwards', async () => {
    const gtid = newGtid();
    const log = new PostgresTwoPhaseLog(coordinatorDb);
    await log.begin(gtid, ['p0']);
    expect(await coordinator().outcome(gtid)).toBe('abort');
    const decision = await log.decideCommit(gtid, [{ participant: 'p0', state: 'prepared' }], async (tx) => {
      await tx.query('INSERT INTO orders (id, owner) VALUES ($1, $2)', [gtid, 'coordinator']);
    });
    expect(decision).toBe('abort');
    // The local work was sent with the decision and rolled back with it.
    expect(await orderIn(coordinatorDb, gtid)).toBe(0);
    expect((await log.get(gtid))?.state).toBe('aborting');
  });

  it('lets a participant resolve an in-doubt branch by asking the coordinator', async () => {
    const gtid = newGtid();
    const log = new PostgresTwoPhaseLog(coordinatorDb);
    const [resource] = shared.resources;
    await log.begin(gtid, ['p0']);
    await resource.prepare(gtid, 'emr', async (tx) => {
      await tx.query('INSERT INTO orders (id, owner) VALUES ($1, $2)', [gtid, 'p0']);
    });
    // The coordinator decided COMMIT and then died before phase two.
    expect(await log.decideCommit(gtid, [{ participant: 'p0', state: 'prepared' }])).toBe('commit');
    const participant = new TwoPhaseParticipant<Session>(
      resource,
      { outcome: (_c, id) => coordinator().outcome(id) },
      () => Promise.resolve(),
      { inDoubtAfterMs: 0 },
    );
    expect(await participant.recover()).toBeGreaterThanOrEqual(1);
    expect(await orderIn(participantDbs[0], gtid)).toBe(1);
    expect(await prepared(participantDbs[0])).not.toContain(
      branchGid('emr', gtid, participantDbs[0].settings.database),
    );
  });

  it('re-drives phase two from the log after a coordinator restart', async () => {
    const gtid = newGtid();
    const log = new PostgresTwoPhaseLog(coordinatorDb, 0);
    for (const [i, resource] of shared.resources.entries()) {
      await resource.prepare(gtid, 'emr', async (tx) => {
        await tx.query('INSERT INTO orders (id, owner) VALUES ($1, $2)', [`${gtid}-${i}`, `p${i}`]);
      });
    }
    await log.decideCommit(gtid, [
      { participant: 'p0', state: 'prepared' },
      { participant: 'p1', state: 'prepared' },
    ]);
    const restarted = new TwoPhaseCoordinator<Session>(log, shared.clients, {
      name: 'emr',
      recoveryLeaseMs: 1_000,
    });
    await restarted.recover();
    expect(await orderIn(participantDbs[0], `${gtid}-0`)).toBe(1);
    expect(await orderIn(participantDbs[1], `${gtid}-1`)).toBe(1);
    expect(await log.state(gtid)).toBe('committed');
  });
});
