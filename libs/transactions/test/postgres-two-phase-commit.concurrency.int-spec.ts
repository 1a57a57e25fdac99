import { Client } from 'pg';
import { Database, Session } from '@hospital/platform';
import {
  branchGid,
  GtidInUseError,
  newGtid,
  ParticipantClient,
  PostgresPreparedResource,
  PostgresTwoPhaseLog,
  TwoPhaseCoordinator,
  TwoPhaseParticipant,
} from '@hospital/transactions';
import { useTwoPhaseDatabases } from './support/two-phase-databases';

/**
 * The 2PC adapters under concurrency, against the real PostgreSQL: phase two racing recovery on the same
 * prepared transaction, two coordinators whose gtids meet, a replayed gtid, the decision lease between
 * replicas, the durability of the decision, and a participant that comes back after an inline phase two
 * failed.
 */
describe('two-phase commit adapters under concurrency', () => {
  const databases = useTwoPhaseDatabases('tx-concurrency-test');
  const { orderIn, isPrepared } = databases;
  let coordinatorDb: Database;
  let participantDb: Database;

  beforeAll(() => {
    coordinatorDb = databases.coordinator();
    participantDb = databases.participant();
  });
  const insertOrder =
    (id: string, owner = 'lis') =>
    async (tx: Session) =>
      void (await tx.query('INSERT INTO orders (id, owner) VALUES ($1, $2)', [id, owner]));

  /**
   * A session that finishes a prepared transaction slowly: `commit_delay` holds its WAL flush for 100 ms,
   * and PostgreSQL keeps the prepared transaction locked ("busy") for every other session meanwhile, as
   * it is while recovery and the inline phase two both finish one.
   */
  async function slowly<T>(statement: string, during: () => Promise<T>): Promise<T> {
    const client = new Client(participantDb.settings);
    await client.connect();
    try {
      await client.query('SET commit_delay = 100000; SET commit_siblings = 0');
      const finishing = client.query(statement);
      await new Promise((resolve) => setTimeout(resolve, 30));
      const [result] = await Promise.all([during(), finishing]);
      return result;
    } finally {
      await client.end();
    }
  }

  it('commits a branch another session is committing at that instant: waits, then answers committed', async () => {
    const resource = new PostgresPreparedResource(participantDb);
    const gtid = newGtid();
    const gid = branchGid('emr', gtid, participantDb.settings.database);
    await resource.prepare(gtid, 'emr', insertOrder(gtid));
    const ack = await slowly(`COMMIT PREPARED '${gid}'`, () => resource.commit(gtid, 'emr'));
    expect(ack).toBe('committed');
    expect(await orderIn(gtid)).toBe(1);
    expect(await isPrepared(gid)).toBe(false);
  });

  it('aborts a branch another session is rolling back at that instant, and leaves its tombstone', async () => {
    const resource = new PostgresPreparedResource(participantDb);
    const gtid = newGtid();
    const gid = branchGid('emr', gtid, participantDb.settings.database);
    await resource.prepare(gtid, 'emr', insertOrder(gtid));
    await slowly(`ROLLBACK PREPARED '${gid}'`, () => resource.abort(gtid, 'emr'));
    expect(await isPrepared(gid)).toBe(false);
    expect(await orderIn(gtid)).toBe(0);
    await expect(resource.prepare(gtid, 'emr', insertOrder(gtid))).resolves.toMatchObject({ vote: 'no' });
  });

  it('aborts idempotently: again, concurrently, and before any prepare', async () => {
    const resource = new PostgresPreparedResource(participantDb);
    const gtid = newGtid();
    await resource.prepare(gtid, 'emr', insertOrder(gtid));
    await Promise.all([
      resource.abort(gtid, 'emr'),
      resource.abort(gtid, 'emr'),
      resource.abort(gtid, 'emr'),
    ]);
    await resource.abort(gtid, 'emr');
    const never = newGtid();
    await resource.abort(never, 'emr');
    await resource.abort(never, 'emr');
    const rows = await participantDb.query<{ gtid: string; state: string }>(
      'SELECT gtid, state FROM tx_participant_branch WHERE gtid = ANY($1) ORDER BY gtid',
      [[gtid, never]],
    );
    expect(rows.map((r) => r.state)).toEqual(['aborted', 'aborted']);
    expect(await orderIn(gtid)).toBe(0);
  });

  it('races commit and recovery of many branches: each branch committed once, no error, nothing left prepared', async () => {
    const inline = new PostgresPreparedResource(participantDb);
    const recovering = new PostgresPreparedResource(participantDb);
    const gtids = Array.from({ length: 20 }, () => newGtid());
    for (const gtid of gtids) await inline.prepare(gtid, 'emr', insertOrder(gtid));
    const acks = await Promise.all(
      gtids.flatMap((gtid) => [inline.commit(gtid, 'emr'), recovering.commit(gtid, 'emr')]),
    );
    expect(new Set(acks)).toEqual(new Set(['committed']));
    for (const gtid of gtids) expect(await orderIn(gtid)).toBe(1);
    const left = await participantDb.query(
      'SELECT 1 FROM pg_prepared_xacts WHERE database = current_database()',
    );
    expect(left).toEqual([]);
  });

  it('keeps branches of two coordinators with the same gtid apart', async () => {
    const resource = new PostgresPreparedResource(participantDb);
    const gtid = newGtid();
    await expect(resource.prepare(gtid, 'emr', insertOrder(`${gtid}-emr`, 'emr'))).resolves.toEqual({
      vote: 'yes',
    });
    // Another coordinator that happens to use the same gtid gets its own branch, not the first one's vote.
    const ran: string[] = [];
    const vote = await resource.prepare(gtid, 'telemedicine', async (tx) => {
      ran.push('telemedicine');
      await insertOrder(`${gtid}-tele`, 'telemedicine')(tx);
    });
    expect(vote).toEqual({ vote: 'yes' });
    expect(ran).toEqual(['telemedicine']);
    await resource.abort(gtid, 'telemedicine');
    await expect(resource.commit(gtid, 'emr')).resolves.toBe('committed');
    expect(await orderIn(`${gtid}-emr`)).toBe(1);
    expect(await orderIn(`${gtid}-tele`)).toBe(0);
    // Neither coordinator's answer is the other's: the aborted one stays aborted, the committed one unknown elsewhere.
    await expect(resource.commit(gtid, 'telemedicine')).resolves.toBe('unknown');
    await expect(resource.commit(gtid, 'pharmacy')).resolves.toBe('unknown');
  });

  it('refuses to begin a gtid the log already holds, finished or not', async () => {
    const log = new PostgresTwoPhaseLog(coordinatorDb);
    const gtid = newGtid();
    await log.begin(gtid, ['lis'], 'client-ref-1');
    await expect(log.begin(gtid, ['lis'])).rejects.toBeInstanceOf(GtidInUseError);
    await log.decideCommit(gtid, [{ participant: 'lis', state: 'prepared' }]);
    await log.complete(gtid, 'commit', [{ participant: 'lis', state: 'committed' }]);
    await expect(log.begin(gtid, ['lis'])).rejects.toBeInstanceOf(GtidInUseError);
    expect(await log.list({ limit: 5, correlationId: 'client-ref-1' })).toEqual([
      expect.objectContaining({ gtid, correlationId: 'client-ref-1', state: 'committed' }),
    ]);
  });

  it('records the COMMIT decision with synchronous commit, whatever the session default', async () => {
    const log = new PostgresTwoPhaseLog(coordinatorDb);
    const gtid = newGtid();
    await log.begin(gtid, ['lis']);
    let setting: string | undefined;
    await log.decideCommit(gtid, [{ participant: 'lis', state: 'prepared' }], async (tx) => {
      [{ synchronous_commit: setting }] = await tx.query<{ synchronous_commit: string }>(
        'SHOW synchronous_commit',
      );
    });
    expect(setting).toBe('on');
  });

  it('leaves a decided transaction to its coordinator while the decision lease lasts', async () => {
    const gtid = newGtid();
    const deciding = new PostgresTwoPhaseLog(coordinatorDb, 60_000);
    await deciding.begin(gtid, ['lis']);
    await deciding.decideCommit(gtid, [{ participant: 'lis', state: 'prepared' }]);
    const replica = new PostgresTwoPhaseLog(coordinatorDb);
    const claimed = async () => (await replica.claimUnfinished(500, 1_000, 0)).map((r) => r.gtid);
    expect(await claimed()).not.toContain(gtid);
    // Once the lease has run out, a recovering replica takes it, and holds it against the others.
    await coordinatorDb.query(
      `UPDATE tx_global SET lease_until = now() - interval '1 second' WHERE gtid = $1`,
      [gtid],
    );
    expect(await claimed()).toContain(gtid);
    expect(await claimed()).not.toContain(gtid);
  });

  it('commits a participant that failed phase two inline within 2 s of it coming back', async () => {
    const resource = new PostgresPreparedResource(participantDb);
    const participant = new TwoPhaseParticipant<Session>(
      resource,
      { outcome: () => Promise.reject(new Error('not asked here')) },
      insertOrder('unused'),
    );
    let reachable = true;
    const lis: ParticipantClient = {
      name: 'lis',
      prepare: (gtid, coordinator) => resource.prepare(gtid, coordinator, insertOrder(gtid)),
      commit: (gtid) =>
        reachable ? participant.commit(gtid, 'emr') : Promise.reject(new Error('connect ECONNREFUSED')),
      abort: (gtid) => participant.abort(gtid, 'emr'),
    };
    const coordinator = new TwoPhaseCoordinator<Session>(new PostgresTwoPhaseLog(coordinatorDb), [lis], {
      name: 'emr',
      inlineCommitAttempts: 2,
      retryBaseMs: 10,
    });
    const gtid = newGtid();
    const gid = branchGid('emr', gtid, participantDb.settings.database);
    try {
      // The participant prepared, then became unreachable for the decision: phase two fails inline.
      const prepared = lis.prepare.bind(lis);
      lis.prepare = async (...args) => {
        const vote = await prepared(...args);
        reachable = false;
        return vote;
      };
      const result = await coordinator.execute({ gtid, branches: [{ participant: 'lis', payload: {} }] });
      expect(result).toMatchObject({ outcome: 'committed', acknowledged: false });
      expect(await isPrepared(gid)).toBe(true);
      // The prepared insert holds its lock: another writer of the same row waits on it.
      await expect(
        participantDb.transaction(async (tx) => {
          await tx.query('SET LOCAL lock_timeout = 50');
          await insertOrder(gtid, 'other')(tx);
        }),
      ).rejects.toThrow(/lock timeout/);

      await new Promise((resolve) => setTimeout(resolve, 1_500));
      reachable = true;
      const back = Date.now();
      while ((await isPrepared(gid)) && Date.now() - back < 5_000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(Date.now() - back).toBeLessThan(2_000);
      expect(await isPrepared(gid)).toBe(false);
      expect(await orderIn(gtid)).toBe(1);
    } finally {
      await coordinator.stop();
    }
    expect(await new PostgresTwoPhaseLog(coordinatorDb).state(gtid)).toBe('committed');
  }, 15_000);
});
