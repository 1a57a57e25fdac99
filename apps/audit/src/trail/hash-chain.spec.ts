import { ChainVerifier, canonicalJson, GENESIS_HASH, linkRows, type ChainedFields } from './hash-chain';

const record = (n: number): Omit<ChainedFields, 'seq'> => ({
  id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  recorded: `2026-01-01T00:00:0${n % 10}.000Z`,
  service: 'emr',
  actorKind: 'user',
  actorId: 'dr-who',
  actorName: null,
  actorRole: 'clinician',
  action: 'R',
  interaction: 'read',
  resourceType: 'Patient',
  resourceId: `p${n}`,
  patient: `p${n}`,
  gtid: null,
  outcome: '0',
  status: 200,
  reason: null,
  sourceAddress: '127.0.0.1',
  breakTheGlass: null,
});

describe('the audit hash chain', () => {
  const chain = linkRows(undefined, [1, 2, 3, 4, 5].map(record));

  it('links each row to the one before, from the genesis', () => {
    expect(chain.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(chain[0].prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < chain.length; i++) expect(chain[i].prevHash).toBe(chain[i - 1].hash);
    const more = linkRows(chain[4], [record(6)]);
    expect(more[0]).toMatchObject({ seq: 6, prevHash: chain[4].hash });
  });

  it('is canonical: the key order of the row does not matter, every value does', () => {
    const fields = { ...record(1), seq: 1 };
    const reversed = Object.fromEntries(Object.entries(fields).reverse()) as unknown as ChainedFields;
    expect(canonicalJson(reversed)).toBe(canonicalJson(fields));
    expect(canonicalJson({ ...fields, status: 201 })).not.toBe(canonicalJson(fields));
  });

  it('verifies an intact chain across pages', () => {
    const verifier = new ChainVerifier();
    expect(verifier.push(chain.slice(0, 2))).toBeUndefined();
    // Rows as read back carry more than the chain covers (when they were stored): it is not hashed.
    expect(
      verifier.push(chain.slice(2).map((r) => ({ ...r, storedAt: '2026-01-02T00:00:00.000Z' }))),
    ).toBeUndefined();
    expect(verifier.checked).toBe(5);
  });

  it('names an edited row', () => {
    const edited = chain.map((r) => (r.seq === 3 ? { ...r, patient: 'someone-else' } : r));
    expect(new ChainVerifier().push(edited)).toEqual({ kind: 'edited', seq: 3, id: chain[2].id });
  });

  it('names the gap a deleted row leaves, and the first of several', () => {
    const deleted = chain.filter((r) => r.seq !== 2 && r.seq !== 4);
    expect(new ChainVerifier().push(deleted)).toEqual({
      kind: 'missing-before',
      seq: 3,
      id: chain[2].id,
      missingSeq: 2,
    });
  });

  it('names a row re-linked after a deletion (seq renumbered)', () => {
    const relinked = [chain[0], { ...chain[2], seq: 2 }, { ...chain[3], seq: 3 }];
    expect(new ChainVerifier().push(relinked)).toMatchObject({ kind: 'prev-hash-mismatch', seq: 2 });
  });

  it('names a row whose hash was recomputed after an edit by the next link', () => {
    const forged = linkRows(chain[1], [{ ...record(3), patient: 'x' }])[0];
    const rows = [chain[0], chain[1], forged, chain[3], chain[4]];
    expect(new ChainVerifier().push(rows)).toMatchObject({ kind: 'prev-hash-mismatch', seq: 4 });
  });
});
