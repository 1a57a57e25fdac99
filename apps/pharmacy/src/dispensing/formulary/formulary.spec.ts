import { RXNORM_SYSTEM } from '../fhir-resources';
import type { MedicationSelector } from '../dispenses/dispense-rules';
import { FormularyCache, formularyEntryOf, type FormularyEntry } from './formulary';

const amlodipine: FormularyEntry = { medicationId: 'rxnorm-197361', code: '197361' };

describe('FormularyCache', () => {
  let now = 0;
  let loads: MedicationSelector[] = [];
  const cache = (known: Record<string, FormularyEntry>, maxEntries = 100) =>
    new FormularyCache(
      (selector) => {
        loads.push(selector);
        return Promise.resolve(known[selector.kind === 'code' ? selector.code : selector.id]);
      },
      { hitTtlMs: 1_000, missTtlMs: 100, maxEntries, now: () => now },
    );

  beforeEach(() => {
    now = 0;
    loads = [];
  });

  it('loads a drug once while concurrent and later look-ups share it', async () => {
    const c = cache({ '197361': amlodipine });
    const results = await Promise.all([1, 2, 3].map(() => c.lookup({ kind: 'code', code: '197361' })));
    expect(results).toEqual([amlodipine, amlodipine, amlodipine]);
    now = 999;
    await c.lookup({ kind: 'code', code: '197361' });
    expect(loads).toHaveLength(1);
    now = 1_001;
    await c.lookup({ kind: 'code', code: '197361' });
    expect(loads).toHaveLength(2);
  });

  it('remembers an unknown drug only briefly', async () => {
    const c = cache({});
    expect(await c.lookup({ kind: 'code', code: '1' })).toBeUndefined();
    now = 50;
    await c.lookup({ kind: 'code', code: '1' });
    expect(loads).toHaveLength(1);
    now = 150;
    await c.lookup({ kind: 'code', code: '1' });
    expect(loads).toHaveLength(2);
  });

  it('does not remember a failed look-up', async () => {
    let fail = true;
    const c = new FormularyCache(
      () => (fail ? Promise.reject(new Error('db down')) : Promise.resolve(amlodipine)),
      { hitTtlMs: 1_000, missTtlMs: 100, maxEntries: 10, now: () => now },
    );
    await expect(c.lookup({ kind: 'code', code: '197361' })).rejects.toThrow('db down');
    fail = false;
    expect(await c.lookup({ kind: 'code', code: '197361' })).toEqual(amlodipine);
  });

  it('keeps at most maxEntries', async () => {
    const c = cache({}, 2);
    for (const code of ['1', '2', '3']) await c.lookup({ kind: 'code', code });
    await c.lookup({ kind: 'code', code: '1' });
    expect(loads.map((s) => (s.kind === 'code' ? s.code : s.id))).toEqual(['1', '2', '3', '1']);
  });
});

describe('formularyEntryOf', () => {
  it('takes the RxNorm coding of an active Medication', () => {
    expect(
      formularyEntryOf({
        resourceType: 'Medication',
        id: 'm1',
        status: 'active',
        code: { coding: [{ system: RXNORM_SYSTEM, code: '197361', display: 'amlodipine 5 MG Oral Tablet' }] },
      }),
    ).toEqual({ medicationId: 'm1', code: '197361', display: 'amlodipine 5 MG Oral Tablet' });
  });

  it('ignores inactive Medications and those without an RxNorm code', () => {
    const coded = { coding: [{ system: RXNORM_SYSTEM, code: '197361' }] };
    expect(
      formularyEntryOf({ resourceType: 'Medication', id: 'm', status: 'inactive', code: coded }),
    ).toBeUndefined();
    expect(
      formularyEntryOf({ resourceType: 'Medication', id: 'm', code: { coding: [{ code: '197361' }] } }),
    ).toBeUndefined();
  });
});
