import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { Database, Session } from '@hospital/platform';
import { branchGid, newGtid, PostgresPreparedResource, PostgresTwoPhaseLog } from '@hospital/transactions';
import { useTwoPhaseDatabases } from './support/two-phase-databases';

/**
 * The edges of the 2PC adapters against the real PostgreSQL, one guard each: a settled branch asked
 * again, a PREPARE that PostgreSQL turns into a ROLLBACK, an abort behind a running prepare, a finish
 * PostgreSQL refuses, and the coordinator log's decision durability, completion marks and recovery claims.
 */
describe('two-phase commit adapters at their edges', () => {
  const databases = useTwoPhaseDatabases('tx-edges-test');
  const { orderIn, isPrepared } = databases;
  let coordinatorDb: Database;
  let participantDb: Database;

  beforeAll(() => {
    coordinatorDb = databases.coordinator();
    participantDb = databases.participant();
  });
  const branchState = async (gtid: string) =>
    (
      await participantDb.query<{ state: string }>(
        "SELECT state FROM tx_participant_branch WHERE coordinator = 'emr' AND gtid = $1",
        [gtid],
      )
    )[0]?.state;
  const insertOrder = (id: string) => async (tx: Session) =>
    void (await tx.query("INSERT INTO orders (id, owner) VALUES ($1, 'lis')", [id]));

  describe('participant', () => {
    it('votes YES again when a prepare is repeated after its branch committed', async () => {
      const resource = new PostgresPreparedResource(participantDb);
      const gtid = newGtid();
      await expect(resource.prepare(gtid, 'emr', insertOrder(gtid))).resolves.toEqual({ vote: 'yes' });
      await expect(resource.commit(gtid, 'emr')).resolves.toBe('committed');
      // A duplicate request, or a retry whose first answer was lost: the branch row proves the commit.
      await expect(resource.prepare(gtid, 'emr', insertOrder(gtid))).resolves.toEqual({ vote: 'yes' });
      expect(await orderIn(gtid)).toBe(1);
    });

    it('votes NO when the business step swallowed its own SQL failure and PREPARE answers ROLLBACK', async () => {
      const resource = new PostgresPreparedResource(participantDb);
      const gtid = newGtid();
      const vote = await resource.prepare(gtid, 'emr', async (tx) => {
        await insertOrder(gtid)(tx);
        // The step fails inside the branch and hides it: PostgreSQL then rolls back on PREPARE TRANSACTION.
        await tx.query('SELECT 1 / 0').catch(() => undefined);
      });
      expect(vote).toMatchObject({ vote: 'no' });
      expect(await isPrepared(branchGid('emr', gtid, participantDb.settings.database))).toBe(false);
      expect(await orderIn(gtid)).toBe(0);
      await expect(resource.commit(gtid, 'emr')).resolves.toBe('unknown');
    });

    it('refuses to abort a branch that already committed, and keeps its writes', async () => {
      const resource = new PostgresPreparedResource(participantDb);
      const gtid = newGtid();
      await resource.prepare(gtid, 'emr', insertOrder(gtid));
      await resource.commit(gtid, 'emr');
      await expect(resource.abort(gtid, 'emr')).rejects.toThrow(/already committed/);
      expect(await branchState(gtid)).toBe('committed');
      expect(await orderIn(gtid)).toBe(1);
    });

    it('aborts a branch whose prepare is still running: waits out the row lock, then rolls the branch back', async () => {
      // Tells when the abort, having found nothing prepared, opens its session to write the tombstone.
      let writingTombstone!: () => void;
      const tombstone = new Promise<void>((resolve) => (writingTombstone = resolve));
      const observed = new Proxy(participantDb, {
        get(target, property) {
          if (property === 'withSession')
            return <T>(work: (session: Session) => Promise<T>) => {
              writingTombstone();
              return target.withSession(work);
            };
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function'
            ? (value as (...args: unknown[]) => unknown).bind(target)
            : value;
        },
      });
      // A 500 ms lock timeout makes the abort wait 100 ms on the branch row per attempt.
      const aborting = new PostgresPreparedResource(observed, 500);
      const preparing = new PostgresPreparedResource(participantDb);
      const gtid = newGtid();
      const gid = branchGid('emr', gtid, participantDb.settings.database);

      let opened!: () => void;
      const branchOpen = new Promise<void>((resolve) => (opened = resolve));
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const vote = preparing.prepare(gtid, 'emr', async (tx) => {
        await insertOrder(gtid)(tx);
        opened();
        await held;
      });
      await branchOpen;
      // The abort runs ROLLBACK PREPARED before the branch is prepared (nothing to roll back), then its
      // tombstone waits on the row the prepare holds, which PREPARE TRANSACTION keeps locked: the wait
      // times out, and only a second ROLLBACK PREPARED ends the branch.
      const abort = aborting.abort(gtid, 'emr');
      await Promise.race([tombstone, abort.catch(() => undefined)]);
      release();
      await expect(abort).resolves.toBeUndefined();
      await expect(vote).resolves.toEqual({ vote: 'yes' });
      expect(await isPrepared(gid)).toBe(false);
      expect(await orderIn(gtid)).toBe(0);
      expect(await branchState(gtid)).toBe('aborted');
    });

    it('answers each coordinator from its own branch row when two coordinators used the same gtid', async () => {
      const resource = new PostgresPreparedResource(participantDb);
      // The committed row first in one transaction and last in the other, so a read that takes either
      // coordinator's row for the other's is caught whichever row PostgreSQL returns first.
      const [emrFirst, emrLast] = [newGtid(), newGtid()];
      const commitForEmr = async (gtid: string) => {
        await resource.prepare(gtid, 'emr', insertOrder(`${gtid}-emr`));
        await resource.commit(gtid, 'emr');
      };
      await commitForEmr(emrFirst);
      await resource.abort(emrFirst, 'telemedicine');
      await resource.abort(emrLast, 'telemedicine');
      await commitForEmr(emrLast);
      for (const gtid of [emrFirst, emrLast]) {
        // A repeated prepare collides with its own coordinator's row and answers from that row only.
        await expect(
          resource.prepare(gtid, 'telemedicine', insertOrder(`${gtid}-tele`)),
        ).resolves.toMatchObject({ vote: 'no' });
        await expect(resource.prepare(gtid, 'emr', insertOrder(`${gtid}-emr`))).resolves.toEqual({
          vote: 'yes',
        });
        // Commit and abort read their own coordinator's row: nothing committed for telemedicine.
        await expect(resource.commit(gtid, 'telemedicine')).resolves.toBe('unknown');
        await expect(resource.abort(gtid, 'telemedicine')).resolves.toBeUndefined();
        await expect(resource.abort(gtid, 'pharmacy')).resolves.toBeUndefined();
        await expect(resource.commit(gtid, 'emr')).resolves.toBe('committed');
        expect(await orderIn(`${gtid}-emr`)).toBe(1);
        expect(await orderIn(`${gtid}-tele`)).toBe(0);
      }
    });

    it.each([
      ['COMMIT PREPARED', 'commit'],
      ['ROLLBACK PREPARED', 'abort'],
    ] as const)(
      'waits while another session runs %s of the same branch through its WAL flush',
      async (statement, finish) => {
        const resource = new PostgresPreparedResource(participantDb);
        const gtid = newGtid();
        const gid = branchGid('emr', gtid, participantDb.settings.database);
        await resource.prepare(gtid, 'emr', insertOrder(gtid));
        // `commit_delay` holds the other session's flush for 100 ms, with the prepared transaction locked
        // ("busy") for everyone else all that time.
        const other = new Client(participantDb.settings);
        await other.connect();
        try {
          await other.query('SET commit_delay = 100000; SET commit_siblings = 0');
          const { rows } = await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          const finishing = other.query(`${statement} '${gid}'`);
          // The other session runs the statement (and holds the branch busy for 100 ms) once it shows active.
          for (let polls = 0; polls < 1_000; polls += 1) {
            const [row] = await participantDb.query<{ state: string | null; query: string }>(
              'SELECT state, query FROM pg_stat_activity WHERE pid = $1',
              [rows[0].pid],
            );
            if (row?.state === 'active' && row.query.startsWith(statement)) break;
          }
          const answer = finish === 'commit' ? resource.commit(gtid, 'emr') : resource.abort(gtid, 'emr');
          await Promise.all([answer, finishing]);
          if (finish === 'commit') await expect(answer).resolves.toBe('committed');
          else await expect(answer).resolves.toBeUndefined();
        } finally {
          await other.end();
        }
        expect(await isPrepared(gid)).toBe(false);
        expect(await orderIn(gtid)).toBe(finish === 'commit' ? 1 : 0);
      },
    );

    it('reports in doubt only its own database’s branches, and only those prepared before the cut-off', async () => {
      const here = new PostgresPreparedResource(participantDb);
      // Another participant database on the same server: prepared-transaction names are server-wide.
      const elsewhere = new PostgresPreparedResource(coordinatorDb);
      await coordinatorDb.query(
        'CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, owner text NOT NULL)',
      );
      const [mine, theirs] = [newGtid(), newGtid()];
      await here.prepare(mine, 'emr', insertOrder(mine));
      await elsewhere.prepare(theirs, 'emr', async (tx) => {
        await tx.query("INSERT INTO orders (id, owner) VALUES ($1, 'ris')", [theirs]);
      });
      try {
        const gtids = async (olderThan: Date) => (await here.inDoubt(olderThan)).map((b) => b.gtid);
        // Prepared a moment ago: still waiting for its decision, not in doubt a minute back.
        expect(await gtids(new Date(Date.now() - 60_000))).not.toContain(mine);
        const later = await gtids(new Date(Date.now() + 60_000));
        expect(later).toContain(mine);
        expect(later).not.toContain(theirs);
      } finally {
        await here.abort(mine, 'emr');
        await elsewhere.abort(theirs, 'emr');
      }
    });

    describe('when PostgreSQL refuses to finish the prepared transaction', () => {
      const role = `tx_limited_${randomBytes(4).toString('hex')}`;
      let limitedDb: Database;

      beforeAll(async () => {
        // Only a superuser or the role that prepared a transaction may finish it: a participant
        // connected as another role is refused with 42501, whatever the branch's state.
        await participantDb.query(`CREATE ROLE ${role} LOGIN PASSWORD 'limited' NOSUPERUSER`);
        await participantDb.query(`GRANT SELECT, INSERT ON tx_participant_branch TO ${role}`);
        limitedDb = new Database(
          { ...participantDb.settings, user: role, password: 'limited', poolSize: 2 },
          'tx-edges-limited',
        );
      });

      afterAll(async () => {
        await limitedDb.close();
        await participantDb.query(`DROP OWNED BY ${role}`);
        await participantDb.query(`DROP ROLE ${role}`);
      });

      it('surfaces the refusal of COMMIT PREPARED and ROLLBACK PREPARED, and leaves the branch prepared', async () => {
        const owner = new PostgresPreparedResource(participantDb);
        const limited = new PostgresPreparedResource(limitedDb, 100);
        const gtid = newGtid();
        const gid = branchGid('emr', gtid, participantDb.settings.database);
        await owner.prepare(gtid, 'emr', insertOrder(gtid));
        try {
          // Not "never prepared here" ('unknown'), not a lock time-out: PostgreSQL's own reason.
          await expect(limited.commit(gtid, 'emr')).rejects.toThrow(/permission denied to finish prepared/);
          await expect(limited.abort(gtid, 'emr')).rejects.toThrow(/permission denied to finish prepared/);
          expect(await isPrepared(gid)).toBe(true);
          expect(await branchState(gtid)).toBeUndefined();
        } finally {
          await owner.abort(gtid, 'emr');
        }
        expect(await isPrepared(gid)).toBe(false);
      });
    });
  });

  describe('coordinator log', () => {
    const unfinished = async (log: PostgresTwoPhaseLog, staleAfterMs = 0) =>
      (await log.claimUnfinished(500, 60_000, staleAfterMs)).map((r) => r.gtid);

    it('writes the COMMIT and the ABORT decision with synchronous commit on', async () => {
      // Records the setting in force whenever a decision row is written.
      await coordinatorDb.query(`
        CREATE TABLE decision_durability (gtid text, state text, synchronous_commit text);
        CREATE FUNCTION note_durability() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO decision_durability VALUES (NEW.gtid, NEW.state, current_setting('synchronous_commit'));
          RETURN NEW;
        END $$;
        CREATE TRIGGER note_durability AFTER INSERT OR UPDATE ON tx_global
          FOR EACH ROW WHEN (NEW.state IN ('committing', 'aborting', 'aborted'))
          EXECUTE FUNCTION note_durability();`);
      try {
        const log = new PostgresTwoPhaseLog(coordinatorDb);
        const [committed, aborted, abortedAtOnce] = [newGtid(), newGtid(), newGtid()];
        await log.begin(committed, ['lis']);
        await log.decideCommit(committed, [{ participant: 'lis', state: 'prepared' }]);
        await log.begin(aborted, ['lis']);
        await log.decideAbort(aborted, 'lis voted no', [{ participant: 'lis', state: 'refused' }]);
        await log.decideAbort(abortedAtOnce, 'timed out before any vote');
        const rows = await coordinatorDb.query<{ gtid: string; state: string; synchronous_commit: string }>(
          'SELECT gtid, state, synchronous_commit FROM decision_durability ORDER BY gtid',
        );
        expect(rows).toHaveLength(3);
        expect(new Set(rows.map((r) => r.synchronous_commit))).toEqual(new Set(['on']));
      } finally {
        await coordinatorDb.query(`
          DROP TRIGGER note_durability ON tx_global; DROP FUNCTION note_durability();
          DROP TABLE decision_durability;`);
      }
    });

    it('records no COMMIT when the coordinator’s own work fails, and an ABORT can still be recorded', async () => {
      const log = new PostgresTwoPhaseLog(coordinatorDb);
      const gtid = newGtid();
      await log.begin(gtid, ['lis']);
      await expect(
        log.decideCommit(gtid, [{ participant: 'lis', state: 'prepared' }], () =>
          Promise.reject(new Error('local record refused')),
        ),
      ).rejects.toThrow('local record refused');
      expect(await log.state(gtid)).toBe('preparing');
      await expect(log.decideAbort(gtid, 'local work failed')).resolves.toBe('abort');
    });

    it('leaves a transaction that is not in phase two unchanged by a completion mark', async () => {
      const log = new PostgresTwoPhaseLog(coordinatorDb);
      const preparing = newGtid();
      await log.begin(preparing, ['lis']);
      await log.complete(preparing, 'commit', [{ participant: 'lis', state: 'committed' }]);
      expect(await log.state(preparing)).toBe('preparing');

      const aborted = newGtid();
      await log.begin(aborted, ['lis']);
      await log.decideAbort(aborted, 'lis voted no', [{ participant: 'lis', state: 'refused' }]);
      await log.complete(aborted, 'abort', [{ participant: 'lis', state: 'aborted' }]);
      await log.complete(aborted, 'commit', [{ participant: 'lis', state: 'committed' }]);
      expect(await log.state(aborted)).toBe('aborted');
    });

    it('claims a transaction still collecting votes only once it is older than the stale limit', async () => {
      const log = new PostgresTwoPhaseLog(coordinatorDb);
      const gtid = newGtid();
      await log.begin(gtid, ['lis']);
      expect(await unfinished(log, 60_000)).not.toContain(gtid);
      expect(await unfinished(log, 0)).toContain(gtid);
    });

    it('never claims a finished transaction', async () => {
      const log = new PostgresTwoPhaseLog(coordinatorDb);
      const [committed, aborted] = [newGtid(), newGtid()];
      await log.begin(committed, ['lis']);
      await log.decideCommit(committed, [{ participant: 'lis', state: 'prepared' }]);
      await log.complete(committed, 'commit', [{ participant: 'lis', state: 'committed' }]);
      await log.decideAbort(aborted, 'timed out before any vote');
      const claimed = await unfinished(log);
      expect(claimed).not.toContain(committed);
      expect(claimed).not.toContain(aborted);
    });

    it('skips a transaction another recovery round holds instead of waiting for it', async () => {
      const log = new PostgresTwoPhaseLog(coordinatorDb, 0);
      const [held, free] = [newGtid(), newGtid()];
      for (const gtid of [held, free]) {
        await log.begin(gtid, ['lis']);
        await log.decideCommit(gtid, [{ participant: 'lis', state: 'prepared' }]);
      }
      const other = new Client(coordinatorDb.settings);
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query('SELECT 1 FROM tx_global WHERE gtid = $1 FOR UPDATE', [held]);
        const claiming = unfinished(log);
        // A bound, not a pause: a claim that waits for the held row would wait until it is released.
        let bound: NodeJS.Timeout | undefined;
        const waited = new Promise<'waited'>((resolve) => {
          bound = setTimeout(() => resolve('waited'), 3_000);
        });
        const claimed = await Promise.race([claiming, waited]);
        clearTimeout(bound);
        await other.query('ROLLBACK');
        await claiming;
        expect(claimed).not.toBe('waited');
        expect(claimed).toContain(free);
        expect(claimed).not.toContain(held);
      } finally {
        await other.end();
      }
    });

    it('makes a transaction claimable as soon as the back-off a failed phase two asked for has passed', async () => {
      const log = new PostgresTwoPhaseLog(coordinatorDb, 60_000);
      const gtid = newGtid();
      await log.begin(gtid, ['lis']);
      await log.decideCommit(gtid, [{ participant: 'lis', state: 'prepared' }]);
      expect(await unfinished(log)).not.toContain(gtid);
      // Phase two failed inline: retry in 0 ms rather than after the 60 s decision lease.
      await log.noteRetry(gtid, 'lis unreachable', 0);
      expect(await unfinished(log)).toContain(gtid);
    });
  });
});
