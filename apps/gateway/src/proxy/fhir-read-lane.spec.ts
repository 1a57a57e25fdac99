import { laneResourceType } from './fhir-read-lane';

describe('laneResourceType', () => {
  it('takes a read and a search of a resource type', () => {
    expect(laneResourceType('/fhir/Patient/p-1')).toBe('Patient');
    expect(laneResourceType('/fhir/Patient?identifier=urn:mrn|42&_count=5')).toBe('Patient');
  });

  it('leaves every other path to the guarded route', () => {
    for (const url of [
      '/fhir',
      '/fhir/metadata',
      '/fhir/Observation/',
      '/fhir/.well-known/smart-configuration',
      '/fhir/_history',
      '/fhir/$export',
      '/fhir/Patient/_search',
      '/fhir/Patient/p-1/_history',
      '/fhir/Patient/p-1/_history/2',
      '/fhir/Patient/p-1/$everything',
      '/fhir/Patient/%2E%2E',
      '/fhir/Patient/bad%ZZ',
      '/fhir/patient/p-1',
      '/api/fhir/Patient/p-1',
      `/fhir/Patient/${'x'.repeat(65)}`,
    ])
      expect([url, laneResourceType(url)]).toEqual([url, undefined]);
  });
});
