import { Database } from '@hospital/platform';
import {
  BranchCancelledError,
  BranchSettledError,
  ClaimMismatchError,
  InsufficientCapacityError,
  QuotaClaim,
  QuotaNotLentError,
  TccBranchRequest,
  TccTryRequest,
  UnknownResourceError,
} from '@hospital/transactions';
import { useCapacityDatabase } from './support/capacity-ledger';

/**
 * The capacity ledger's TCC side behind the PostgreSQL barrier, and the quota-cached saga's hooks (lend,
 * give back, apply completed quota claims), on the real PostgreSQL: a Try holds, a Confirm turns the hold
 * into taken units once, a Cancel gives it back once; a Cancel before its Try records an empty rollback and
 * refuses the late Try; a Confirm and a Cancel racing on one branch — only one runs. After every test the
 * accounting holds: capacity = available + taken + held + lent, available ≥ 0, taken = Σ applied claims,
 * held = Σ held claims.
 */
jest.setTimeout(60_000);

describe('capacity ledger over PostgreSQL: TCC and the quota hooks', () => {
  const capacity = useCapacityDatabase('capacity-tcc-test');
  const { ledger } = capacity;

  const tryIt = (request: TccTryRequest, db: Database = capacity.db()) =>
    db.transaction((tx) => ledger.tccTry(tx, request));
  const confirm = (request: TccBranchRequest, db: Database = capacity.db()) =>
    db.transaction((tx) => ledger.tccConfirm(tx, request));
  const cancel = (request: TccBranchRequest, db: Database = capacity.db()) =>
    db.transaction((tx) => ledger.tccCancel(tx, request));
  const barrierRows = async (gtid: string): Promise<string[]> =>
    (
      await capacity
        .db()
        .query<{ op: string }>('SELECT op FROM tx_tcc_barrier WHERE gtid = $1 ORDER BY op', [gtid])
    ).map((r) => r.op);

  it('holds on try, applies once on confirm, answers duplicates the same and refuses a cancel after it', async () => {
    const day = 'imaging:CT:2026-12-09';
    await capacity.offer(day, 5);
    const branch = { gtid: 'g-tcc-confirm', branch: 'pacs' };
    const held = await tryIt({ ...branch, resource: day, units: 2 });
    expect(held).toEqual({ ...branch, key: 'g-tcc-confirm:pacs', resource: day, units: 2, state: 'held' });
    expect(await tryIt({ ...branch, resource: day, units: 2 })).toEqual(held);
    expect(await capacity.level(day)).toMatchObject({ held: 2, taken: 0, available: 3 });
    const confirmed = await confirm(branch);
    expect(confirmed).toEqual({ ...branch, key: 'g-tcc-confirm:pacs', state: 'applied', units: 2 });
    expect(await confirm(branch)).toEqual(confirmed);
    await expect(cancel(branch)).rejects.toBeInstanceOf(BranchSettledError);
    expect(await capacity.level(day)).toMatchObject({ held: 0, taken: 2, available: 3 });
    expect(await ledger.claims(capacity.db(), branch.gtid)).toEqual([
      expect.objectContaining({ key: 'g-tcc-confirm:pacs', mode: 'tcc', state: 'applied', units: 2 }),
    ]);
  });

  it('gives a hold back once on cancel and refuses a confirm after it', async () => {
    const drug = 'drug:197361@icu';
    await capacity.offer(drug, 5);
    const branch = { gtid: 'g-tcc-cancel', branch: 'pharmacy' };
    await tryIt({ ...branch, resource: drug, units: 5 });
    expect(await capacity.level(drug)).toMatchObject({ held: 5, available: 0 });
    const cancelled = await cancel(branch);
    expect(cancelled).toEqual({ ...branch, key: 'g-tcc-cancel:pharmacy', state: 'released', units: 5 });
    expect(await cancel(branch)).toEqual(cancelled);
    await expect(confirm(branch)).rejects.toBeInstanceOf(BranchSettledError);
    // A duplicate Try after the Cancel: the branch is over, nothing is held again.
    await expect(tryIt({ ...branch, resource: drug, units: 5 })).rejects.toBeInstanceOf(BranchCancelledError);
    expect(await capacity.level(drug)).toMatchObject({ held: 0, taken: 0, available: 5 });
  });

  it('records a cancel before its try as an empty rollback and refuses the late try', async () => {
    const drug = 'drug:308182@ward-3a';
    await capacity.offer(drug, 5);
    const branch = { gtid: 'g-tcc-empty', branch: 'pharmacy' };
    expect(await cancel(branch)).toEqual({
      ...branch,
      key: 'g-tcc-empty:pharmacy',
      state: 'released',
      units: 0,
    });
    expect(await ledger.claims(capacity.db(), branch.gtid)).toEqual([
      expect.objectContaining({ resource: null, units: 0, mode: 'tcc', state: 'released' }),
    ]);
    await expect(tryIt({ ...branch, resource: drug, units: 1 })).rejects.toBeInstanceOf(BranchCancelledError);
    await expect(confirm(branch)).rejects.toBeInstanceOf(BranchSettledError);
    expect(await cancel(branch)).toMatchObject({ state: 'released', units: 0 });
    expect(await capacity.level(drug)).toMatchObject({ held: 0, available: 5 });
  });

  it('reports a try refused for capacity with nothing written, so its cancel is an empty rollback', async () => {
    const slot = 'slot:tcc-full';
    await capacity.offer(slot, 1);
    const branch = { gtid: 'g-tcc-full', branch: 'appointments' };
    await expect(tryIt({ ...branch, resource: slot, units: 2 })).rejects.toBeInstanceOf(
      InsufficientCapacityError,
    );
    await expect(
      tryIt({ gtid: 'g-tcc-unknown', branch: 'x', resource: 'slot:nope', units: 1 }),
    ).rejects.toBeInstanceOf(UnknownResourceError);
    expect(await barrierRows(branch.gtid)).toEqual([]);
    expect(await barrierRows('g-tcc-unknown')).toEqual([]);
    expect(await cancel(branch)).toMatchObject({ state: 'released', units: 0 });
    expect(await barrierRows(branch.gtid)).toEqual(['cancel', 'try']);
  });

  it('lets only one of a confirm and a cancel racing on one branch run', async () => {
    const day = 'imaging:US:2026-12-10';
    await capacity.offer(day, 100);
    let confirmedUnits = 0;
    for (let round = 0; round < 12; round++) {
      const branch = { gtid: `g-tcc-race-${round}`, branch: 'pacs' };
      await tryIt({ ...branch, resource: day, units: 3 });
      const [a, b] = round % 2 ? [capacity.db(), capacity.replica()] : [capacity.replica(), capacity.db()];
      const settled = await Promise.allSettled([confirm(branch, a), cancel(branch, b)]);
      const won = settled.filter((s) => s.status === 'fulfilled');
      const lost = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]).toBeInstanceOf(BranchSettledError);
      if (settled[0].status === 'fulfilled') confirmedUnits += 3;
    }
    expect(await capacity.level(day)).toMatchObject({
      held: 0,
      taken: confirmedUnits,
      available: 100 - confirmedUnits,
    });
  });

  it('leaves nothing held when 30 tries race their cancels', async () => {
    const drug = 'drug:1665060@icu';
    await capacity.offer(drug, 1_000);
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const branch = { gtid: `g-tcc-hang-${i}`, branch: 'pharmacy' };
        const [tried] = await Promise.allSettled([
          tryIt({ ...branch, resource: drug, units: 2 }, i % 2 ? capacity.db() : capacity.replica()),
          cancel(branch, i % 2 ? capacity.replica() : capacity.db()),
        ]);
        if (tried.status === 'rejected') expect(tried.reason).toBeInstanceOf(BranchCancelledError);
      }),
    );
    expect(await capacity.level(drug)).toMatchObject({ held: 0, taken: 0, available: 1_000 });
  });

  describe('quota-cached saga hooks', () => {
    const claim = (n: number, resource: string, units: number): QuotaClaim => ({
      key: `g-quota-${n}:pharmacy`,
      gtid: `g-quota-${n}`,
      resource,
      units,
    });
    const applyQuota = (claims: QuotaClaim[]) =>
      capacity.db().transaction((tx) => ledger.applyQuotaClaims(tx, claims));

    it('lends what is available, applies completed claims from lent to taken once per key, gives back', async () => {
      const drug = 'drug:745679@icu';
      await capacity.offer(drug, 10);
      await capacity.db().transaction((tx) =>
        ledger.sagaApply(tx, {
          key: 'g-quota-saga:pharmacy',
          gtid: 'g-quota-saga',
          resource: drug,
          units: 3,
        }),
      );
      expect(await capacity.db().transaction((tx) => ledger.lend(tx, drug, 10))).toBe(7);
      expect(await capacity.db().transaction((tx) => ledger.lend(tx, drug, 1))).toBe(0);
      expect(await capacity.level(drug)).toMatchObject({ lent: 7, taken: 3, available: 0 });
      const batch = [claim(1, drug, 2), claim(2, drug, 3)];
      expect(await applyQuota(batch)).toEqual({ applied: [batch[0].key, batch[1].key], duplicates: [] });
      expect(await capacity.level(drug)).toMatchObject({ lent: 2, taken: 8, available: 0 });
      // A redelivered completion: the same keys change nothing.
      expect(await applyQuota([batch[1], batch[0], batch[1]])).toEqual({
        applied: [],
        duplicates: [batch[0].key, batch[1].key],
      });
      expect(await capacity.level(drug)).toMatchObject({ lent: 2, taken: 8 });
      expect(await ledger.claims(capacity.db(), 'g-quota-1')).toEqual([
        expect.objectContaining({ mode: 'quota-saga', state: 'applied', units: 2 }),
      ]);
      await capacity.db().transaction((tx) => ledger.giveBack(tx, drug, 2));
      expect(await capacity.level(drug)).toMatchObject({ lent: 0, taken: 8, available: 2 });
      await expect(capacity.db().transaction((tx) => ledger.giveBack(tx, drug, 1))).rejects.toBeInstanceOf(
        QuotaNotLentError,
      );
    });

    it('refuses claims beyond what was lent, mismatched keys and unknown resources, applying none of the batch', async () => {
      const drug = 'drug:745679@ward-3a';
      await capacity.offer(drug, 10);
      await capacity.db().transaction((tx) => ledger.lend(tx, drug, 4));
      await expect(applyQuota([claim(10, drug, 3), claim(11, drug, 2)])).rejects.toBeInstanceOf(
        QuotaNotLentError,
      );
      await expect(applyQuota([claim(12, drug, 1), claim(12, drug, 2)])).rejects.toBeInstanceOf(
        ClaimMismatchError,
      );
      await expect(applyQuota([claim(13, drug, 1), claim(14, 'drug:0@nowhere', 1)])).rejects.toBeInstanceOf(
        UnknownResourceError,
      );
      await applyQuota([claim(15, drug, 1)]);
      await expect(applyQuota([claim(15, drug, 2)])).rejects.toBeInstanceOf(ClaimMismatchError);
      expect(await capacity.level(drug)).toMatchObject({ lent: 3, taken: 1 });
      expect(await ledger.claims(capacity.db(), 'g-quota-10')).toEqual([]);
      expect(await ledger.claims(capacity.db(), 'g-quota-13')).toEqual([]);
    });

    it('lends and takes back a whole stock at once, beyond one claim’s units', async () => {
      const drug = 'drug:197361@main-pharmacy';
      await capacity.offer(drug, 20_000);
      expect(await capacity.db().transaction((tx) => ledger.lend(tx, drug, 30_000))).toBe(20_000);
      await capacity.db().transaction((tx) => ledger.giveBack(tx, drug, 20_000));
      expect(await capacity.level(drug)).toMatchObject({ lent: 0, available: 20_000 });
    });

    it('applies in the caller’s transaction: rolled back with it', async () => {
      const drug = 'drug:313782@ward-3a';
      await capacity.offer(drug, 5);
      await capacity.db().transaction((tx) => ledger.lend(tx, drug, 5));
      await expect(
        capacity.db().transaction(async (tx) => {
          await ledger.applyQuotaClaims(tx, [claim(20, drug, 2)]);
          throw new Error('the inbox row could not be written');
        }),
      ).rejects.toThrow('inbox row');
      expect(await capacity.level(drug)).toMatchObject({ lent: 5, taken: 0 });
      expect(await ledger.claims(capacity.db(), 'g-quota-20')).toEqual([]);
    });
  });
});
