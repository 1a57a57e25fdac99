import { requiredFhirScopes } from './fhir-scopes';

const need = (method: string, path: string, body?: unknown, operation?: 'c' | 'r' | 'u' | 'd' | 's') =>
  requiredFhirScopes(method, path, body, operation).map((n) => `${n.resourceType}.${n.permission}`);

describe('requiredFhirScopes', () => {
  it('derives the permission from the FHIR interaction', () => {
    const cases: [string, string, string[]][] = [
      ['GET', '/fhir/metadata', []],
      ['GET', '/fhir/Patient', ['Patient.s']],
      ['GET', '/fhir/Patient?family=Smith&_include=x', ['Patient.s']],
      ['POST', '/fhir/Patient/_search', ['Patient.s']],
      ['GET', '/fhir/Patient/p1', ['Patient.r']],
      ['GET', '/fhir/Patient/p1/_history', ['Patient.r']],
      ['GET', '/fhir/Patient/p1/_history/2', ['Patient.r']],
      ['POST', '/fhir/Patient', ['Patient.c']],
      ['PUT', '/fhir/Patient/p1', ['Patient.u']],
      ['PUT', '/fhir/Patient?identifier=x', ['Patient.u']],
      ['DELETE', '/fhir/Patient/p1', ['Patient.d']],
      ['POST', '/fhir/ServiceRequest/s1/$complete', ['ServiceRequest.c']],
      ['GET', '/fhir/_history', ['*.s']],
      ['GET', '/fhir?_type=Patient', ['*.s']],
      ['GET', '/gateway/fhir/Observation/o1', ['Observation.r']],
    ];
    for (const [method, path, expected] of cases)
      expect([method, path, need(method, path)]).toEqual([method, path, expected]);
    expect(need('POST', '/fhir/ServiceRequest/s1/$complete', undefined, 'u')).toEqual(['ServiceRequest.u']);
  });

  it('needs what every entry of a Bundle needs, and Bundle.c for one it cannot read', () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
        { request: { method: 'PUT', url: 'Observation/o1' }, resource: { resourceType: 'Observation' } },
        { request: { method: 'GET', url: 'Encounter?subject=Patient/p1' } },
        { request: { method: 'DELETE', url: 'Flag/f1' } },
        { resource: { resourceType: 'Specimen' } },
        { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Patient' } },
      ],
    };
    expect(need('POST', '/fhir', bundle)).toEqual([
      'Patient.c',
      'Observation.u',
      'Encounter.s',
      'Flag.d',
      'Specimen.c',
      'Observation.c',
      'Patient.c',
    ]);
    for (const body of [undefined, 'text', { resourceType: 'Bundle' }, { entry: [] }, { entry: [null, 3] }])
      expect(need('POST', '/fhir', body)).toEqual(['Bundle.c']);
  });
});
