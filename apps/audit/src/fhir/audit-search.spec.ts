import { csvField, csvLine } from '../export/csv';
import { parseAuditSearch } from './audit-search';

/** The HTTP status a query is answered with: 200, or the status of the exception the parser throws. */
function statusOf(query: Record<string, unknown>): number {
  try {
    parseAuditSearch(query);
    return 200;
  } catch (error) {
    return (error as { status: number }).status;
  }
}

describe('the AuditEvent search parameters', () => {
  it('turns filters into conditions: references without their type, lists ORed, repeats ANDed', () => {
    const query = parseAuditSearch({
      patient: 'Patient/p1,p2',
      agent: ['Practitioner/dr-1'],
      action: 'R',
      outcome: '4',
      'entity-type': 'Observation',
      purpose: 'http://terminology.hl7.org/CodeSystem/v3-ActReason|ETREAT',
      _sort: '-date,patient',
      _count: '5',
      _offset: '10',
    });
    expect(query).toEqual({
      conditions: [
        { column: 'patient', anyOf: ['p1', 'p2'] },
        { column: 'actor_id', anyOf: ['dr-1'] },
        { column: 'action', anyOf: ['R'] },
        { column: 'outcome', anyOf: ['4'] },
        { column: 'resource_type', anyOf: ['Observation'] },
        { column: 'break_the_glass', present: true },
      ],
      sort: [
        { column: 'recorded', descending: true },
        { column: 'patient', descending: false },
      ],
      count: 5,
      offset: 10,
    });
  });

  it('reads dates at their precision, with the prefixes of FHIR', () => {
    const conditions = (date: string | string[]) => parseAuditSearch({ date }).conditions;
    expect(conditions('2026-03-04')).toEqual([
      { column: 'recorded', op: '>=', at: '2026-03-04T00:00:00.000Z' },
      { column: 'recorded', op: '<', at: '2026-03-05T00:00:00.000Z' },
    ]);
    expect(conditions(['ge2026-03', 'lt2026-04-01T12:00:00Z'])).toEqual([
      { column: 'recorded', op: '>=', at: '2026-03-01T00:00:00.000Z' },
      { column: 'recorded', op: '<', at: '2026-04-01T12:00:00.000Z' },
    ]);
    expect(conditions('le2026')).toEqual([{ column: 'recorded', op: '<', at: '2027-01-01T00:00:00.000Z' }]);
    expect(conditions('gt2026-12-31T23:59:59+01:00')).toEqual([
      { column: 'recorded', op: '>=', at: '2026-12-31T23:00:00.000Z' },
    ]);
  });

  it('defaults to 20 by date, and refuses what it does not know rather than ignore it', () => {
    expect(parseAuditSearch({})).toMatchObject({
      sort: [{ column: 'recorded', descending: false }],
      count: 20,
      offset: 0,
    });
    for (const bad of [
      { colour: 'red' },
      { date: '2026-13-01' },
      { date: 'yesterday' },
      { _count: '101' },
      { _count: '-1' },
      { _sort: 'colour' },
      { action: 'X' },
      { outcome: '2' },
      { 'entity-type': "Patient'; DROP TABLE audit_event; --" },
      { patient: { nested: 'object' } },
      { patient: '' },
    ])
      expect([bad, statusOf(bad)]).toEqual([bad, 400]);
  });
});

describe('the CSV export', () => {
  it('quotes what must be quoted and neutralises formulas', () => {
    expect(csvLine([1, 'plain', null, 'a,b', 'say "hi"', 'two\nlines'])).toBe(
      '1,plain,,"a,b","say ""hi""","two\nlines"',
    );
    expect(csvField('=SUM(A1)')).toBe("'=SUM(A1)");
    expect(csvField('-2+3')).toBe("'-2+3");
    expect(csvField('@cmd, x')).toBe(`"'@cmd, x"`);
  });
});
