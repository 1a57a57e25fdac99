import { TccBarrierViolationError, TccBranchKey } from '../ports/tcc.ports';
import { MemorySession, MemoryTransactionRunner } from '../testing/memory-session';
import { InMemoryTccBarrier } from '../testing/tcc-memory';

/**
 * The TCC barrier's rules, on its in-memory twin (the PostgreSQL adapter is held to the same rules by
 * `test/tcc-barrier.int-spec.ts`): each operation runs once per branch, Confirm only after Try, a Cancel
 * without Try is an empty rollback that refuses the late Try, and a business error is never swallowed.
 */
describe('TCC participant barrier', () => {
  const key: TccBranchKey = { gtid: 'g-1', branch: 'pharmacy' };
  let barrier: InMemoryTccBarrier;
  let db: MemoryTransactionRunner;
  /** The participant's business rows, written in the same local transaction as the barrier. */
  let effects: string[];
  const effect =
    (name: string) =>
    (tx: MemorySession): Promise<string> => {
      tx.onCommit(() => effects.push(name));
      return Promise.resolve(name);
    };

  beforeEach(() => {
    barrier = new InMemoryTccBarrier();
    db = new MemoryTransactionRunner();
    effects = [];
  });

  it('runs try, confirm and cancel once each, duplicates skipped', async () => {
    expect(await db.transaction((tx) => barrier.try(tx, key, effect('reserve')))).toEqual({
      ran: true,
      value: 'reserve',
    });
    expect(await db.transaction((tx) => barrier.try(tx, key, effect('reserve')))).toEqual({
      ran: false,
      skipped: 'duplicate',
    });
    await db.transaction((tx) => barrier.confirm(tx, key, effect('apply')));
    expect(await db.transaction((tx) => barrier.confirm(tx, key, effect('apply')))).toEqual({
      ran: false,
      skipped: 'duplicate',
    });
    expect(effects).toEqual(['reserve', 'apply']);
  });

  it('records a cancel without try as an empty rollback and refuses the late try', async () => {
    expect(await db.transaction((tx) => barrier.cancel(tx, key, effect('release')))).toEqual({
      ran: false,
      skipped: 'empty-rollback',
    });
    expect(await db.transaction((tx) => barrier.try(tx, key, effect('reserve')))).toEqual({
      ran: false,
      skipped: 'cancelled',
    });
    expect(await db.transaction((tx) => barrier.cancel(tx, key, effect('release')))).toEqual({
      ran: false,
      skipped: 'duplicate',
    });
    expect(effects).toEqual([]);
  });

  it('cancels a try once', async () => {
    await db.transaction((tx) => barrier.try(tx, key, effect('reserve')));
    await db.transaction((tx) => barrier.cancel(tx, key, effect('release')));
    await db.transaction((tx) => barrier.cancel(tx, key, effect('release')));
    expect(effects).toEqual(['reserve', 'release']);
  });

  it('refuses a confirm without try, after cancel, and a cancel after confirm, writing nothing', async () => {
    await expect(db.transaction((tx) => barrier.confirm(tx, key, effect('apply')))).rejects.toBeInstanceOf(
      TccBarrierViolationError,
    );
    expect(barrier.row(key, 'confirm')).toBeUndefined();
    await db.transaction((tx) => barrier.cancel(tx, key, effect('release')));
    await expect(db.transaction((tx) => barrier.confirm(tx, key, effect('apply')))).rejects.toBeInstanceOf(
      TccBarrierViolationError,
    );
    const other = { gtid: 'g-2', branch: 'pharmacy' };
    await db.transaction((tx) => barrier.try(tx, other, effect('reserve')));
    await db.transaction((tx) => barrier.confirm(tx, other, effect('apply')));
    await expect(db.transaction((tx) => barrier.cancel(tx, other, effect('release')))).rejects.toBeInstanceOf(
      TccBarrierViolationError,
    );
    expect(effects).toEqual(['reserve', 'apply']);
  });

  it('reports a business refusal of the try and keeps no barrier row, so a cancel is an empty rollback', async () => {
    const refused = new Error('out of stock');
    await expect(db.transaction((tx) => barrier.try(tx, key, () => Promise.reject(refused)))).rejects.toBe(
      refused,
    );
    expect(barrier.row(key, 'try')).toBeUndefined();
    expect((await db.transaction((tx) => barrier.cancel(tx, key, effect('release')))).ran).toBe(false);
  });

  it('serialises a try racing its cancel: either the try then its undo, or nothing', async () => {
    const tried = db.transaction((tx) => barrier.try(tx, key, effect('reserve')));
    const cancelled = db.transaction((tx) => barrier.cancel(tx, key, effect('release')));
    const [t, c] = await Promise.all([tried, cancelled]);
    expect(t.ran === c.ran).toBe(true);
    expect(effects).toEqual(t.ran ? ['reserve', 'release'] : []);
  });
});
