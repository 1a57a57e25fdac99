import { Database, SqlExecutor } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  PostgresTccBarrier,
  TccBarrierResult,
  TccBarrierViolationError,
  TccBranchKey,
  tccBarrierMigrations,
} from '@hospital/transactions';

/**
 * The TCC barrier on the real PostgreSQL, inside a participant's local transaction beside its business
 * write (a pharmacy stock reservation): calls of one branch racing from separate connections — a Try
 * racing its Cancel, two Confirms, two Cancels — each effect exactly once, a Try after its Cancel never
 * reserving, and a business refusal reported with nothing written.
 */
jest.setTimeout(60_000);

describe('TCC barrier over PostgreSQL', () => {
  let drop: () => Promise<void>;
  let db: Database;
  const barrier = new PostgresTccBarrier();

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_tcc', tccBarrierMigrations);
    drop = created.drop;
    db = new Database({ ...created.settings, poolSize: 8 }, 'tcc-barrier-test');
    await db.query(
      `CREATE TABLE stock_effect (gtid text NOT NULL, branch text NOT NULL, effect text NOT NULL,
         at timestamptz NOT NULL DEFAULT clock_timestamp())`,
    );
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  const write =
    (key: TccBranchKey, effect: string) =>
    async (tx: SqlExecutor): Promise<string> => {
      await tx.query('INSERT INTO stock_effect (gtid, branch, effect) VALUES ($1, $2, $3)', [
        key.gtid,
        key.branch,
        effect,
      ]);
      // Widen the window in which a racing call of the same branch could slip in.
      await tx.query('SELECT pg_sleep(0.005)');
      return effect;
    };
  const tryIt = (key: TccBranchKey): Promise<TccBarrierResult<string>> =>
    db.transaction((tx) => barrier.try(tx, key, write(key, 'reserve')));
  const confirm = (key: TccBranchKey): Promise<TccBarrierResult<string>> =>
    db.transaction((tx) => barrier.confirm(tx, key, write(key, 'apply')));
  const cancel = (key: TccBranchKey): Promise<TccBarrierResult<string>> =>
    db.transaction((tx) => barrier.cancel(tx, key, write(key, 'release')));
  const effects = async (key: TccBranchKey): Promise<string[]> =>
    (
      await db.query<{ effect: string }>(
        'SELECT effect FROM stock_effect WHERE gtid = $1 AND branch = $2 ORDER BY at',
        [key.gtid, key.branch],
      )
    ).map((r) => r.effect);

  it('runs a try, its confirm once under duplicates, and records each operation', async () => {
    const key = { gtid: 'g-confirm', branch: 'pharmacy' };
    expect(await tryIt(key)).toEqual({ ran: true, value: 'reserve' });
    expect(await tryIt(key)).toEqual({ ran: false, skipped: 'duplicate' });
    const confirms = await Promise.all([confirm(key), confirm(key), confirm(key)]);
    expect(confirms.filter((c) => c.ran)).toHaveLength(1);
    expect(confirms.filter((c) => !c.ran)).toEqual([
      { ran: false, skipped: 'duplicate' },
      { ran: false, skipped: 'duplicate' },
    ]);
    expect(await effects(key)).toEqual(['reserve', 'apply']);
  });

  it('makes a cancel without try an empty rollback and refuses the try that arrives after it', async () => {
    const key = { gtid: 'g-empty', branch: 'pacs' };
    expect(await cancel(key)).toEqual({ ran: false, skipped: 'empty-rollback' });
    expect(await tryIt(key)).toEqual({ ran: false, skipped: 'cancelled' });
    expect(await cancel(key)).toEqual({ ran: false, skipped: 'duplicate' });
    await expect(confirm(key)).rejects.toBeInstanceOf(TccBarrierViolationError);
    expect(await effects(key)).toEqual([]);
  });

  it('refuses a confirm without try and a cancel after confirm, writing nothing', async () => {
    const key = { gtid: 'g-violations', branch: 'appointments' };
    await expect(confirm(key)).rejects.toBeInstanceOf(TccBarrierViolationError);
    await tryIt(key);
    await confirm(key);
    await expect(cancel(key)).rejects.toBeInstanceOf(TccBarrierViolationError);
    expect(await effects(key)).toEqual(['reserve', 'apply']);
    const [{ n }] = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM tx_tcc_barrier WHERE gtid = $1',
      [key.gtid],
    );
    expect(n).toBe(2);
  });

  it('lets only one of a confirm and a cancel of the same branch arriving together run', async () => {
    for (let round = 0; round < 10; round++) {
      const key = { gtid: `g-confirm-cancel-${round}`, branch: 'pharmacy' };
      await tryIt(key);
      const settled = await Promise.allSettled([confirm(key), cancel(key)]);
      const ran = settled.filter((s) => s.status === 'fulfilled' && s.value.ran);
      expect(ran).toHaveLength(1);
      expect(settled.filter((s) => s.status === 'rejected')).toHaveLength(1);
      const after = await effects(key);
      expect([
        ['reserve', 'apply'],
        ['reserve', 'release'],
      ]).toContainEqual(after);
    }
  });

  it('reports a business refusal of the try with no barrier row left', async () => {
    const key = { gtid: 'g-refused', branch: 'pharmacy' };
    await expect(
      db.transaction((tx) =>
        barrier.try(tx, key, async (t) => {
          await write(key, 'reserve')(t);
          throw new Error('out of stock');
        }),
      ),
    ).rejects.toThrow('out of stock');
    expect(await effects(key)).toEqual([]);
    expect(await cancel(key)).toEqual({ ran: false, skipped: 'empty-rollback' });
  });

  it('serialises tries racing their cancels: each branch reserved and released, or untouched', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => ({ gtid: `g-race-${i}`, branch: 'pharmacy' }));
    const outcomes = await Promise.all(
      keys.map(async (key, i) => {
        // Alternate which call leaves first; duplicates of both ride along.
        const calls =
          i % 2 === 0
            ? [tryIt(key), cancel(key), tryIt(key), cancel(key)]
            : [cancel(key), tryIt(key), cancel(key), tryIt(key)];
        return Promise.all(calls);
      }),
    );
    for (const [i, key] of keys.entries()) {
      const got = await effects(key);
      const ran = outcomes[i].filter((o) => o.ran).length;
      if (got.length === 0) {
        expect(ran).toBe(0);
      } else {
        expect(got).toEqual(['reserve', 'release']);
        expect(ran).toBe(2);
      }
      // Whatever the order, a late try never reserves anything now.
      expect(await tryIt(key)).toEqual({ ran: false, skipped: got.length === 0 ? 'cancelled' : 'duplicate' });
    }
  });
});
