import { Database, Session } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  newGtid,
  OutcomeUnknownError,
  PostgresPreparedResource,
  PostgresThreePhaseLog,
  PostgresThreePhaseStates,
  ProtocolPoint,
  TerminationPolicy,
  ThreePhaseCoordinator,
  threePhaseMigrations,
  ThreePhaseParticipant,
  TransactionAbortedError,
} from '@hospital/transactions';
import { InProcessThreePhaseLink } from '@hospital/transactions/testing';

/**
 * Three-phase commit on the real PostgreSQL: a coordinator database and three participant databases
 * (fresh copies of the migrated template), participants reached in-process over links the spec can cut.
 * The coordinator "dies" at a protocol point by throwing there and never speaking again; the participants
 * then end every branch on their own time-outs, and a coordinator started afterwards agrees with them.
 * The partition hazard is shown with the textbook termination (one side commits, the other aborts) and
 * met by the default one (the cut-off side waits, then everyone aborts once the partition heals).
 */
jest.setTimeout(60_000);

const NAMES = ['emr', 'telemedicine', 'referral-inbox'] as const;
const TIMEOUT_MS = 300;

class CoordinatorDied extends Error {}

describe('three-phase commit over PostgreSQL', () => {
  const opened: { db: Database; drop: () => Promise<void> }[] = [];
  let coordinatorDb: Database;
  let participantDbs: Database[];

  const open = async (): Promise<Database> => {
    const { settings, drop } = await createTestDatabase('txlib3pc', threePhaseMigrations);
    const db = new Database(settings, 'tx-3pc-test');
    await db.query('CREATE TABLE IF NOT EXISTS consult_part (id text PRIMARY KEY)');
    opened.push({ db, drop });
    return db;
  };

  beforeAll(async () => {
    coordinatorDb = await open();
    participantDbs = [await open(), await open(), await open()];
  });

  afterAll(async () => {
    for (const { db, drop } of opened) {
      await db.close();
      await drop();
    }
  });

  /** Three participants, each reaching the others over its own links; the coordinator has its own too. */
  function hospital(termination: TerminationPolicy = 'peers') {
    const peerLinks = new Map<string, InProcessThreePhaseLink>();
    const participants = NAMES.map((name, i) => {
      const db = participantDbs[i];
      const resource = new PostgresPreparedResource(db, 5_000, '3pc');
      return new ThreePhaseParticipant<Session>(
        resource,
        new PostgresThreePhaseStates(db, resource),
        (peer) => peerLinks.get(`${name}->${peer}`),
        async (tx, payload) => {
          const { id, refuse } = payload as { id: string; refuse?: boolean };
          if (refuse) throw new Error(`${name} cannot take ${id}`);
          await tx.query('INSERT INTO consult_part (id) VALUES ($1)', [id]);
        },
        { name, uncertainTimeoutMs: TIMEOUT_MS, precommitTimeoutMs: TIMEOUT_MS, termination },
      );
    });
    for (const from of NAMES)
      for (const [j, to] of NAMES.entries())
        if (from !== to) peerLinks.set(`${from}->${to}`, new InProcessThreePhaseLink(participants[j]));
    const links = participants.map((p) => new InProcessThreePhaseLink(p));
    const coordinator = (dieAt?: ProtocolPoint) =>
      new ThreePhaseCoordinator(new PostgresThreePhaseLog(coordinatorDb, 200), links, {
        name: 'telemedicine',
        voteTimeoutMs: 100,
        callTimeoutMs: 1_000,
        inlineAttempts: 2,
        retryBaseMs: 10,
        recoveryLeaseMs: 200,
        points: (point) => {
          if (point === dieAt) throw new CoordinatorDied(point);
        },
      });
    /** The coordinator's link to a participant alone (its peers still reach it). */
    const coordinatorLink = (name: string, state: 'up' | 'votes-only') => {
      links[NAMES.indexOf(name as (typeof NAMES)[number])].state = state;
    };
    /** Cuts (or heals) every link into a participant: the coordinator's and its peers'. */
    const isolate = (name: string, state: 'up' | 'cut' | 'votes-only') => {
      links[NAMES.indexOf(name as (typeof NAMES)[number])].state = state;
      for (const from of NAMES)
        if (from !== name) peerLinks.get(`${from}->${name}`)!.state = state === 'up' ? 'up' : 'cut';
    };
    const sweepAll = () => Promise.all(participants.map((p) => p.sweep()));
    return { participants, links, coordinator, coordinatorLink, isolate, sweepAll };
  }

  const branches = (id: string, refuse?: string) =>
    NAMES.map((participant) => ({ participant, payload: { id, refuse: participant === refuse } }));
  const committedIn = async (id: string) =>
    Promise.all(
      participantDbs.map(
        async (db) => (await db.query('SELECT 1 FROM consult_part WHERE id = $1', [id])).length === 1,
      ),
    );
  const preparedIn = async (gtid: string) =>
    Promise.all(
      participantDbs.map(
        async (db) =>
          (
            await db.query(
              `SELECT 1 FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE $1`,
              [`3pc|telemedicine|${gtid}|%`],
            )
          ).length === 1,
      ),
    );
  const logState = async (gtid: string) =>
    (await coordinatorDb.query<{ state: string }>('SELECT state FROM tx_global WHERE gtid = $1', [gtid]))[0]
      ?.state;
  /**
   * Sweeps the participants until neither the EMR nor the inbox holds a branch of `gtid` prepared (or gives
   * up after 5 s). Telemedicine's own branch is its coordinator's to settle, never its time-outs'.
   */
  const sweepUntilSettled = async (world: ReturnType<typeof hospital>, gtid: string) => {
    const deadline = Date.now() + 5_000;
    while ((await preparedIn(gtid)).some((prepared, i) => prepared && NAMES[i] !== 'telemedicine')) {
      if (Date.now() > deadline) throw new Error(`branches of ${gtid} still prepared`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await world.sweepAll();
    }
  };
  /** Recovery by a coordinator started after the crash, once the dead one's lease ran out. */
  const recoverLater = async (world: ReturnType<typeof hospital>) => {
    await new Promise((resolve) => setTimeout(resolve, 250));
    await world.coordinator().recover();
  };

  it('commits every branch, with the log completed and nothing left prepared', async () => {
    const world = hospital();
    const gtid = newGtid();
    await expect(world.coordinator().execute({ gtid, branches: branches(gtid) })).resolves.toMatchObject({
      outcome: 'committed',
      acknowledged: true,
    });
    expect(await committedIn(gtid)).toEqual([true, true, true]);
    expect(await preparedIn(gtid)).toEqual([false, false, false]);
    expect(await logState(gtid)).toBe('committed');
  });

  it('aborts every branch when one votes NO', async () => {
    const world = hospital();
    const gtid = newGtid();
    await expect(
      world.coordinator().execute({ gtid, branches: branches(gtid, 'referral-inbox') }),
    ).rejects.toBeInstanceOf(TransactionAbortedError);
    expect(await committedIn(gtid)).toEqual([false, false, false]);
    expect(await preparedIn(gtid)).toEqual([false, false, false]);
    expect(await logState(gtid)).toBe('aborted');
  });

  it('a coordinator gone after CanCommit: every uncertain branch aborts by time-out; a new one agrees', async () => {
    const world = hospital();
    const gtid = newGtid();
    await expect(
      world.coordinator('3pc.coordinator.after-can-commit').execute({ gtid, branches: branches(gtid) }),
    ).rejects.toBeInstanceOf(CoordinatorDied);
    expect(await preparedIn(gtid)).toEqual([true, true, true]);
    await sweepUntilSettled(world, gtid);
    expect(await committedIn(gtid)).toEqual([false, false, false]);
    // The coordinator's own branch waited for it; its recovery aborts it too.
    expect(await preparedIn(gtid)).toEqual([false, true, false]);
    await recoverLater(world);
    expect(await preparedIn(gtid)).toEqual([false, false, false]);
    expect(await committedIn(gtid)).toEqual([false, false, false]);
    expect(await logState(gtid)).toBe('aborted');
  });

  it('a coordinator gone after some PreCommits: the pre-committed branches bring the other one along', async () => {
    const world = hospital();
    const gtid = newGtid();
    // The coordinator's PreCommit never reaches the referral inbox; its peers still can.
    world.coordinatorLink('referral-inbox', 'votes-only');
    const dying = world.coordinator('3pc.coordinator.mid-pre-commit');
    await expect(dying.execute({ gtid, branches: branches(gtid) })).rejects.toBeInstanceOf(CoordinatorDied);
    world.coordinatorLink('referral-inbox', 'up');
    await sweepUntilSettled(world, gtid);
    expect(await committedIn(gtid)).toEqual([true, false, true]);
    await recoverLater(world);
    expect(await committedIn(gtid)).toEqual([true, true, true]);
    expect(await preparedIn(gtid)).toEqual([false, false, false]);
    expect(await logState(gtid)).toBe('committed');
  });

  it('a coordinator gone after every PreCommit: the branches commit by themselves; a new one agrees', async () => {
    const world = hospital();
    const gtid = newGtid();
    await expect(
      world.coordinator('3pc.coordinator.after-pre-commit').execute({ gtid, branches: branches(gtid) }),
    ).rejects.toBeInstanceOf(CoordinatorDied);
    await sweepUntilSettled(world, gtid);
    expect(await committedIn(gtid)).toEqual([true, false, true]);
    await recoverLater(world);
    expect(await committedIn(gtid)).toEqual([true, true, true]);
    expect(await preparedIn(gtid)).toEqual([false, false, false]);
    expect(await logState(gtid)).toBe('committed');
  });

  describe('a participant cut off during PreCommit', () => {
    it('splits the outcome under the textbook time-outs (the hazard)', async () => {
      const world = hospital('textbook');
      const gtid = newGtid();
      world.isolate('referral-inbox', 'votes-only');
      await expect(world.coordinator().execute({ gtid, branches: branches(gtid) })).rejects.toBeInstanceOf(
        OutcomeUnknownError,
      );
      world.isolate('referral-inbox', 'cut');
      await sweepUntilSettled(world, gtid);
      // The pre-committed EMR committed on its time-out; the uncertain inbox aborted on its own.
      const [emr, , inbox] = await committedIn(gtid);
      expect({ emr, inbox }).toEqual({ emr: true, inbox: false });
      // Healed, the coordinator learns of the abort and aborts its own branch: the split stays.
      world.isolate('referral-inbox', 'up');
      await recoverLater(world);
      expect(await preparedIn(gtid)).toEqual([false, false, false]);
      expect(await committedIn(gtid)).toEqual([true, false, false]);
    });

    it('keeps one outcome under peer termination: the cut-off side waits, then all abort', async () => {
      const world = hospital('peers');
      const gtid = newGtid();
      world.isolate('referral-inbox', 'votes-only');
      await expect(world.coordinator().execute({ gtid, branches: branches(gtid) })).rejects.toBeInstanceOf(
        OutcomeUnknownError,
      );
      world.isolate('referral-inbox', 'cut');
      // Past both time-outs: the uncertain branch aborted, the pre-committed ones wait for their peer.
      await new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS + 100));
      await world.sweepAll();
      await world.sweepAll();
      expect(await preparedIn(gtid)).toEqual([true, true, false]);
      expect(await committedIn(gtid)).toEqual([false, false, false]);
      world.isolate('referral-inbox', 'up');
      await sweepUntilSettled(world, gtid);
      expect(await committedIn(gtid)).toEqual([false, false, false]);
      await recoverLater(world);
      expect(await preparedIn(gtid)).toEqual([false, false, false]);
      expect(await logState(gtid)).toBe('aborted');
    });
  });

  it('a PreCommit racing the uncertain time-out: one of them wins each branch, and PreCommit says which', async () => {
    const world = hospital();
    for (let round = 0; round < 10; round += 1) {
      const gtid = newGtid();
      await expect(
        world.coordinator('3pc.coordinator.after-can-commit').execute({ gtid, branches: branches(gtid) }),
      ).rejects.toBeInstanceOf(CoordinatorDied);
      await new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS + round * 3));
      const [acks] = await Promise.all([
        Promise.all(world.links.map((link) => link.preCommit(gtid, 'telemedicine', [...NAMES]))),
        world.sweepAll(),
      ]);
      const stillPrepared = await preparedIn(gtid);
      for (const [i, ack] of acks.entries()) {
        expect(['precommitted', 'aborted']).toContain(ack);
        // Acknowledged pre-committed: it must still hold its branch; aborted: nothing is left prepared.
        expect(stillPrepared[i]).toBe(ack === 'precommitted');
      }
      // Clean up the round: whatever was pre-committed is aborted by the coordinator's word.
      await Promise.all(world.links.map((link) => link.abort(gtid, 'telemedicine')));
    }
  });
});
