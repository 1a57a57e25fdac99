import { Database } from '@hospital/platform';
import {
  CapacityInUseError,
  ClaimMismatchError,
  ClaimReleasedError,
  InsufficientCapacityError,
  InvalidClaimError,
  SagaApplyRequest,
  SagaReleaseRequest,
  UnknownResourceError,
} from '@hospital/transactions';
import { useCapacityDatabase } from './support/capacity-ledger';

/**
 * The capacity ledger's saga side on the real PostgreSQL, as a participant (pharmacy stock, imaging days,
 * consult slots) runs it: applies racing for the last units from two replicas' pools never oversell, a
 * repeated apply changes nothing, a release gives the units back once, and a release that came first (or
 * any release) leaves a tombstone that refuses the late apply. After every test the accounting holds:
 * capacity = available + taken + held + lent, available ≥ 0, taken = Σ applied claims.
 */
jest.setTimeout(60_000);

describe('capacity ledger over PostgreSQL: saga apply and release', () => {
  const capacity = useCapacityDatabase('capacity-saga-test');
  const { ledger } = capacity;

  const apply = (request: SagaApplyRequest, db: Database = capacity.db()) =>
    db.transaction((tx) => ledger.sagaApply(tx, request));
  const release = (request: SagaReleaseRequest, db: Database = capacity.db()) =>
    db.transaction((tx) => ledger.sagaRelease(tx, request));
  const claimRows = async (resource: string): Promise<number> =>
    (
      await capacity
        .db()
        .query<{ n: number }>('SELECT count(*)::int AS n FROM tx_capacity_claim WHERE resource = $1', [
          resource,
        ])
    )[0].n;

  it('never oversells: 100 applies from two replicas racing for the last 7 units of a drug', async () => {
    const drug = 'drug:197361@ward-3a';
    await capacity.offer(drug, 50);
    await apply({ key: 'g-earlier:pharmacy', gtid: 'g-earlier', resource: drug, units: 43 });
    const racing = Array.from({ length: 100 }, (_, i) =>
      apply(
        { key: `g-race-${i}:pharmacy`, gtid: `g-race-${i}`, resource: drug, units: 1 },
        i % 2 === 0 ? capacity.db() : capacity.replica(),
      ),
    );
    const settled = await Promise.allSettled(racing);
    const applied = settled.filter((s) => s.status === 'fulfilled');
    const refused = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    expect(applied).toHaveLength(7);
    expect(refused).toHaveLength(93);
    // Each refusal is the business answer (409), not the CHECK constraint tripping over an oversell.
    expect(refused.filter((e) => !(e instanceof InsufficientCapacityError))).toEqual([]);
    expect(await capacity.level(drug)).toMatchObject({ capacity: 50, taken: 50, held: 0, available: 0 });
    expect(await claimRows(drug)).toBe(8);
  });

  it('never oversells with claims of different sizes: what was refused did not fit', async () => {
    const day = 'imaging:CT:2026-12-07';
    await capacity.offer(day, 10);
    const asks = Array.from({ length: 60 }, (_, i) => ({
      key: `g-sizes-${i}:imaging`,
      gtid: `g-sizes-${i}`,
      resource: day,
      units: 1 + (i % 3),
    }));
    const settled = await Promise.allSettled(
      asks.map((ask, i) => apply(ask, i % 2 === 0 ? capacity.db() : capacity.replica())),
    );
    const taken = asks.filter((_, i) => settled[i].status === 'fulfilled').reduce((n, a) => n + a.units, 0);
    const left = (await capacity.level(day))?.available ?? -1;
    expect(taken + left).toBe(10);
    expect(taken).toBeGreaterThan(0);
    // Available only shrank during the race, so every refused claim asked more than is left now.
    const refusedUnits = asks.filter((_, i) => settled[i].status === 'rejected').map((a) => a.units);
    expect(refusedUnits.filter((units) => units <= left)).toEqual([]);
    const reasons = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    expect(reasons.filter((e) => !(e instanceof InsufficientCapacityError))).toEqual([]);
  });

  it('answers a repeated apply the same and changes nothing, even ten at once', async () => {
    const slot = 'slot:0b6a5c1e-repeat';
    await capacity.offer(slot, 3);
    const request = { key: 'g-repeat:consult', gtid: 'g-repeat', resource: slot, units: 2 };
    const first = await apply(request);
    expect(first).toEqual({ ...request, state: 'applied' });
    expect(await apply(request)).toEqual(first);
    const again = await Promise.all(
      Array.from({ length: 10 }, (_, i) => apply(request, i % 2 ? capacity.db() : capacity.replica())),
    );
    expect(again).toEqual(Array.from({ length: 10 }, () => first));
    expect(await capacity.level(slot)).toMatchObject({ taken: 2, available: 1 });
    expect(await claimRows(slot)).toBe(1);
  });

  it('refuses the key claimed again with other units, another resource or another gtid', async () => {
    const slot = 'slot:mismatch';
    await capacity.offer(slot, 5);
    await capacity.offer('slot:mismatch-other', 5);
    const request = { key: 'g-mismatch:consult', gtid: 'g-mismatch', resource: slot, units: 1 };
    await apply(request);
    await expect(apply({ ...request, units: 2 })).rejects.toBeInstanceOf(ClaimMismatchError);
    await expect(apply({ ...request, resource: 'slot:mismatch-other' })).rejects.toBeInstanceOf(
      ClaimMismatchError,
    );
    await expect(apply({ ...request, gtid: 'g-intruder' })).rejects.toBeInstanceOf(ClaimMismatchError);
    await expect(release({ key: request.key, gtid: 'g-intruder' })).rejects.toBeInstanceOf(
      ClaimMismatchError,
    );
    expect(await capacity.level(slot)).toMatchObject({ taken: 1 });
    expect(await capacity.level('slot:mismatch-other')).toMatchObject({ taken: 0 });
  });

  it('gives the units back once on release, answers a repeated release the same, refuses the apply after it', async () => {
    const drug = 'drug:314076@icu';
    await capacity.offer(drug, 10);
    const request = { key: 'g-release:pharmacy', gtid: 'g-release', resource: drug, units: 4 };
    await apply(request);
    const released = await release({ key: request.key, gtid: request.gtid });
    expect(released).toEqual({ key: request.key, gtid: request.gtid, state: 'released', returned: 4 });
    expect(await release({ key: request.key, gtid: request.gtid })).toEqual(released);
    await expect(apply(request)).rejects.toBeInstanceOf(ClaimReleasedError);
    expect(await capacity.level(drug)).toMatchObject({ taken: 0, available: 10 });
    expect(await ledger.claims(capacity.db(), request.gtid)).toEqual([
      expect.objectContaining({
        key: request.key,
        resource: drug,
        units: 4,
        mode: 'saga',
        state: 'released',
      }),
    ]);
  });

  it('records a release that comes before its apply as a tombstone and refuses the late apply', async () => {
    const drug = 'drug:313782@icu';
    await capacity.offer(drug, 10);
    const key = 'g-late:pharmacy';
    expect(await release({ key, gtid: 'g-late' })).toEqual({
      key,
      gtid: 'g-late',
      state: 'released',
      returned: 0,
    });
    expect(await ledger.claims(capacity.db(), 'g-late')).toEqual([
      expect.objectContaining({ key, resource: null, units: 0, mode: 'saga', state: 'released' }),
    ]);
    // The apply of a replica that lost its saga lease, landing after the compensation.
    await expect(apply({ key, gtid: 'g-late', resource: drug, units: 2 })).rejects.toBeInstanceOf(
      ClaimReleasedError,
    );
    expect(await capacity.level(drug)).toMatchObject({ taken: 0, available: 10 });
  });

  it('settles an apply racing its release either way, never leaving the units taken', async () => {
    const drug = 'drug:198440@ward-3a';
    await capacity.offer(drug, 100);
    for (let round = 0; round < 20; round++) {
      const request = {
        key: `g-racing-${round}:pharmacy`,
        gtid: `g-racing-${round}`,
        resource: drug,
        units: 3,
      };
      const [applied, released] = await Promise.allSettled([
        apply(request, round % 2 ? capacity.db() : capacity.replica()),
        release({ key: request.key, gtid: request.gtid }, round % 2 ? capacity.replica() : capacity.db()),
      ]);
      if (released.status !== 'fulfilled') throw released.reason;
      if (applied.status === 'fulfilled') expect(released.value.returned).toBe(3);
      else {
        expect(applied.reason).toBeInstanceOf(ClaimReleasedError);
        expect(released.value.returned).toBe(0);
      }
    }
    expect(await capacity.level(drug)).toMatchObject({ taken: 0, available: 100 });
  });

  it('refuses unknown resources and malformed claims, writing nothing', async () => {
    const gtid = 'g-refused';
    await expect(
      apply({ key: `${gtid}:x`, gtid, resource: 'drug:000000@nowhere', units: 1 }),
    ).rejects.toBeInstanceOf(UnknownResourceError);
    await capacity.offer('drug:243670@icu', 5);
    for (const bad of [
      { units: 0 },
      { units: 10_001 },
      { units: 1.5 },
      { resource: 'no-kind' },
      { resource: 'DRUG:243670@icu' },
      { gtid: 'has space' },
      { key: '' },
    ])
      await expect(
        apply({ key: `${gtid}:x`, gtid, resource: 'drug:243670@icu', units: 1, ...bad }),
      ).rejects.toBeInstanceOf(InvalidClaimError);
    expect(await ledger.claims(capacity.db(), gtid)).toEqual([]);
    expect(await capacity.level('drug:243670@icu')).toMatchObject({ taken: 0, available: 5 });
  });

  it('sets a capacity, never below what is taken, and registers a resource only once', async () => {
    const day = 'imaging:MR:2026-12-08';
    const set = (units: number) => capacity.db().transaction((tx) => ledger.setCapacity(tx, day, units));
    expect((await set(4)).created).toBe(true);
    await apply({ key: 'g-capacity:imaging', gtid: 'g-capacity', resource: day, units: 3 });
    await expect(set(2)).rejects.toBeInstanceOf(CapacityInUseError);
    expect(await set(3)).toEqual({
      created: false,
      level: { resource: day, capacity: 3, taken: 3, held: 0, lent: 0, available: 0 },
    });
    expect(await capacity.db().transaction((tx) => ledger.register(tx, day, 9))).toBe(false);
    expect(await capacity.level(day)).toMatchObject({ capacity: 3 });
    await expect(set(-1)).rejects.toBeInstanceOf(InvalidClaimError);
  });
});
