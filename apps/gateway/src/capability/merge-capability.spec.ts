import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { declaredTypes, isCapabilityStatement, mergeCapabilityStatements } from './merge-capability';

function statement(
  types: string[],
  extra: Partial<NonNullable<CapabilityStatement['rest']>[number]> = {},
): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        resource: types.map(
          (type) =>
            ({
              type,
              interaction: [{ code: 'read' }],
              documentation: `from ${types.join('+')}`,
            }) as CapabilityStatementRestResource,
        ),
        ...extra,
      },
    ],
  };
}

describe('mergeCapabilityStatements', () => {
  it("declares each routed type as its owner declares it, and the gateway's base", () => {
    const emr = statement(['Patient', 'Encounter'], { interaction: [{ code: 'transaction' }] });
    const tele = statement(['Encounter', 'Practitioner']);
    const merged = mergeCapabilityStatements({
      statements: new Map([
        ['emr', emr],
        ['telemedicine', tele],
      ]),
      routes: [
        ['Encounter', 'emr'],
        ['Patient', 'emr'],
        ['Practitioner', 'telemedicine'],
      ],
      coordinator: 'emr',
      baseUrl: 'https://gw.example/fhir',
      date: '2026-02-02',
    });
    expect(merged.implementation?.url).toBe('https://gw.example/fhir');
    expect(merged.fhirVersion).toBe('4.0.1');
    const resources = merged.rest?.[0]?.resource ?? [];
    expect(resources.map((r) => r.type)).toEqual(['Encounter', 'Patient', 'Practitioner']);
    expect(resources[0]?.documentation).toBe('from Patient+Encounter');
    expect(resources[2]?.documentation).toBe('from Encounter+Practitioner');
    expect(merged.rest?.[0]?.interaction).toEqual([{ code: 'transaction' }]);
    expect(declaredTypes(merged)).toEqual(['Encounter', 'Patient', 'Practitioner']);
  });

  it('leaves out types whose owner has not been heard from', () => {
    const merged = mergeCapabilityStatements({
      statements: new Map(),
      routes: [['Observation', 'icu-monitor']],
      coordinator: 'emr',
      baseUrl: 'http://gw/fhir',
      date: '2026-02-02',
    });
    expect(merged.rest?.[0]?.resource).toEqual([]);
    expect(merged.rest?.[0]?.interaction).toBeUndefined();
  });

  it('recognises a CapabilityStatement and refuses anything else', () => {
    expect(isCapabilityStatement(statement(['Patient']))).toBe(true);
    expect(isCapabilityStatement({ resourceType: 'OperationOutcome' })).toBe(false);
    expect(isCapabilityStatement({ resourceType: 'CapabilityStatement', rest: 'x' })).toBe(false);
    expect(isCapabilityStatement(null)).toBe(false);
  });
});
