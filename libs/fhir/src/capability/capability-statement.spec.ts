import { SearchParameterRegistry } from '../search/search-parameter-registry';
import { FhirValidator } from '../validation/fhir-validator';
import { buildCapabilityStatement } from './capability-statement';
import { FhirException } from '../errors/fhir-exception';

describe('buildCapabilityStatement', () => {
  let registry: SearchParameterRegistry;
  beforeAll(() => {
    registry = new SearchParameterRegistry({
      Patient: ['_id', 'identifier', 'name', 'family', 'given', 'birthdate', 'gender'],
      ServiceRequest: ['_id', 'subject', 'patient', 'category', 'status', 'identifier', 'encounter'],
    });
  }, 30_000);

  const statement = () =>
    buildCapabilityStatement({
      serviceName: 'lis',
      baseUrl: 'https://lis.example/fhir/',
      registry,
      interactions: {
        types: { ServiceRequest: ['read', 'vread', 'history-instance', 'search-type', 'create', 'update'] },
        transaction: true,
      },
      date: '2025-01-01T00:00:00Z',
    });

  it('advertises exactly the search parameters the registry accepts', () => {
    for (const resource of statement().rest?.[0]?.resource ?? []) {
      const advertised = (resource.searchParam ?? []).filter((p) => p.type !== 'special').map((p) => p.name);
      expect(advertised).toEqual(registry.params(resource.type).map((p) => p.code));
      for (const name of advertised) {
        expect(() =>
          registry.parseSearch(resource.type, { [name]: name === 'birthdate' ? '2000' : 'x' }),
        ).not.toThrow();
      }
      const control = (resource.searchParam ?? []).filter((p) => p.type === 'special').map((p) => p.name);
      expect(control).toEqual(['_count', '_offset', '_sort', '_total', '_summary', '_elements']);
      const controlValues: Record<string, string> = {
        _count: '5',
        _offset: '5',
        _sort: '-_lastUpdated',
        _total: 'accurate',
        _summary: 'true',
        _elements: 'id',
      };
      for (const name of control) {
        expect(() => registry.parseSearch(resource.type, { [name]: controlValues[name] })).not.toThrow();
      }
      // every advertised _include and _revinclude is followed
      for (const value of resource.searchInclude ?? []) {
        expect(registry.parseSearch(resource.type, { _include: value }).include).toHaveLength(1);
      }
      for (const value of resource.searchRevInclude ?? []) {
        expect(registry.parseSearch(resource.type, { _revinclude: value }).revinclude).toHaveLength(1);
      }
      // and nothing else is accepted
      expect(() => registry.parseSearch(resource.type, { 'not-advertised': 'x' })).toThrow(FhirException);
    }
  });

  it('carries type, definition URL and documentation of each parameter', () => {
    const patient = statement().rest?.[0]?.resource?.find((r) => r.type === 'Patient');
    expect(patient?.searchParam?.find((p) => p.name === 'birthdate')).toMatchObject({
      definition: 'http://hl7.org/fhir/SearchParameter/individual-birthdate',
      type: 'date',
    });
    expect(patient?.searchParam?.find((p) => p.name === '_id')?.type).toBe('token');
  });

  it('declares _include, _revinclude, conditional create and the deletes it does not take conditionally', () => {
    const resources = statement().rest?.[0]?.resource ?? [];
    const of = (type: string) => resources.find((r) => r.type === type);
    expect(of('ServiceRequest')?.searchInclude).toEqual([
      'ServiceRequest:subject',
      'ServiceRequest:subject:Patient',
      'ServiceRequest:patient',
      'ServiceRequest:patient:Patient',
    ]);
    expect(of('Patient')?.searchRevInclude).toEqual([
      'ServiceRequest:subject',
      'ServiceRequest:subject:Patient',
      'ServiceRequest:patient',
      'ServiceRequest:patient:Patient',
    ]);
    expect(of('Patient')).not.toHaveProperty('searchInclude');
    expect(of('ServiceRequest')).toMatchObject({
      conditionalCreate: true,
      conditionalDelete: 'not-supported',
      readHistory: true,
      versioning: 'versioned-update',
    });
    expect(of('Patient')?.conditionalCreate).toBe(false);
    expect(statement().rest?.[0]?.documentation).toMatch(/Prefer: handling=strict/);
  });

  it('lists the interactions of each type and the transaction interaction', () => {
    const rest = statement().rest?.[0];
    const codes = (type: string) =>
      rest?.resource?.find((r) => r.type === type)?.interaction?.map((i) => i.code);
    expect(codes('Patient')).toEqual(['read', 'vread', 'history-instance', 'search-type']);
    expect(codes('ServiceRequest')).toEqual([
      'read',
      'vread',
      'update',
      'history-instance',
      'create',
      'search-type',
    ]);
    expect(rest?.interaction).toEqual([{ code: 'transaction' }]);
    expect(statement().implementation?.url).toBe('https://lis.example/fhir');
  });

  it('lists batch beside transaction where POST [base] takes both, and no system interaction without either', () => {
    const withBoth = buildCapabilityStatement({
      serviceName: 'icu-monitor',
      baseUrl: 'https://icu.example/fhir',
      registry,
      interactions: { transaction: true, batch: true },
    });
    expect(withBoth.rest?.[0]?.interaction).toEqual([{ code: 'transaction' }, { code: 'batch' }]);
    const neither = buildCapabilityStatement({
      serviceName: 'icu-monitor',
      baseUrl: 'https://icu.example/fhir',
      registry,
      interactions: {},
    });
    expect(neither.rest?.[0]).not.toHaveProperty('interaction');
  });

  it('is a valid FHIR R4 CapabilityStatement', () => {
    const capability = statement();
    expect(new FhirValidator().validate(capability, 'CapabilityStatement')).toBe(capability);
  });
});
