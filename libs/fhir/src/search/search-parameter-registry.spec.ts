import fc from 'fast-check';
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException } from '../errors/fhir-exception';
import { extractSearchIndex } from './search-index';
import { MAX_PAGE_SIZE, SearchParameterRegistry } from './search-parameter-registry';
import { dateRange, normalizeSearchString, splitUnescaped } from './search-values';

const declaration = {
  Patient: ['_id', 'identifier', 'name', 'family', 'given', 'birthdate', 'gender'],
  Encounter: ['_id', 'subject', 'patient', 'status'],
  ServiceRequest: ['_id', 'subject', 'patient', 'category', 'status', 'identifier', 'encounter'],
};

function rejection(work: () => unknown): FhirException {
  try {
    work();
  } catch (error) {
    if (error instanceof FhirException) return error;
    throw error;
  }
  throw new Error('expected a FhirException');
}

describe('SearchParameterRegistry', () => {
  let registry: SearchParameterRegistry;
  beforeAll(() => {
    registry = new SearchParameterRegistry(declaration);
  }, 30_000);

  it('resolves type, definition and resource-specific FHIRPath from the R4 search parameters', () => {
    expect(registry.resourceTypes()).toEqual(['Patient', 'Encounter', 'ServiceRequest']);
    expect(registry.param('Patient', 'name')).toMatchObject({
      type: 'string',
      expression: 'Patient.name',
      definition: 'http://hl7.org/fhir/SearchParameter/Patient-name',
    });
    expect(registry.param('Patient', 'birthdate')?.type).toBe('date');
    expect(registry.param('Patient', 'identifier')?.type).toBe('token');
    expect(registry.param('Encounter', 'patient')).toMatchObject({ type: 'reference', targets: ['Patient'] });
    expect(registry.param('Encounter', 'patient')?.expression).toMatch(/^Encounter\.subject\.where/);
    expect(registry.param('ServiceRequest', 'subject')?.expression).toBe('ServiceRequest.subject');
    expect(registry.param('Patient', '_id')?.type).toBe('token');
    expect(registry.param('Patient', 'gender')?.codeSystems?.get('female')).toBe(
      'http://hl7.org/fhir/administrative-gender',
    );
    expect(registry.params('Encounter').map((p) => p.code)).toEqual(declaration.Encounter);
  });

  it('refuses at construction what R4 does not define or the store cannot index', () => {
    expect(() => new SearchParameterRegistry({ Patient: ['shoe-size'] })).toThrow(
      /no FHIR R4 search parameter/,
    );
    expect(() => new SearchParameterRegistry({ Nonsense: ['_id'] })).toThrow(/Unknown FHIR R4 resource type/);
    expect(() => new SearchParameterRegistry({ Observation: ['value-quantity'] })).toThrow(/not supported/);
  });

  describe('parseSearch', () => {
    it('parses a query into typed filters with defaults', () => {
      const request = registry.parseSearch('Patient', {
        name: 'Smi',
        'family:exact': 'Smith',
        identifier: 'urn:mrn|123,456',
        birthdate: ['ge1970', 'lt1980-06'],
        gender: '|female',
      });
      expect(request).toMatchObject({ resourceType: 'Patient', count: 20, offset: 0, sort: [], total: true });
      expect(request.filters).toEqual([
        { type: 'string', code: 'name', match: 'prefix', values: ['Smi'] },
        { type: 'string', code: 'family', match: 'exact', values: ['Smith'] },
        {
          type: 'token',
          code: 'identifier',
          not: false,
          values: [{ system: 'urn:mrn', code: '123' }, { code: '456' }],
        },
        {
          type: 'date',
          code: 'birthdate',
          values: [{ prefix: 'ge', lo: '1970-01-01T00:00:00.000Z', hi: '1971-01-01T00:00:00.000Z' }],
        },
        {
          type: 'date',
          code: 'birthdate',
          values: [{ prefix: 'lt', lo: '1980-06-01T00:00:00.000Z', hi: '1980-07-01T00:00:00.000Z' }],
        },
        { type: 'token', code: 'gender', not: false, values: [{ system: null, code: 'female' }] },
      ]);
      expect(request.params).toEqual([
        ['name', 'Smi'],
        ['family:exact', 'Smith'],
        ['identifier', 'urn:mrn|123,456'],
        ['birthdate', 'ge1970'],
        ['birthdate', 'lt1980-06'],
        ['gender', '|female'],
      ]);
    });

    it('accepts URLSearchParams and escaped separators', () => {
      const request = registry.parseSearch(
        'Patient',
        new URLSearchParams('identifier=urn:x|a\\,b&_sort=-birthdate,_id'),
      );
      expect(request.filters[0]).toEqual({
        type: 'token',
        code: 'identifier',
        not: false,
        values: [{ system: 'urn:x', code: 'a,b' }],
      });
      expect(request.sort).toEqual([
        { code: 'birthdate', descending: true },
        { code: '_id', descending: false },
      ]);
    });

    it('parses references: Type/id, bare id, type modifier, absolute URL', () => {
      const request = registry.parseSearch('ServiceRequest', {
        subject: 'Patient/p1',
        patient: 'p2',
        'subject:Patient': 'p3',
        encounter: 'https://emr.example/fhir/Encounter/e1/_history/2',
      });
      expect(request.filters.map((f) => (f.type === 'reference' ? f.values : undefined))).toEqual([
        [{ resourceType: 'Patient', id: 'p1' }],
        [{ id: 'p2' }],
        [{ resourceType: 'Patient', id: 'p3' }],
        [{ resourceType: 'Encounter', id: 'e1' }],
      ]);
    });

    it.each([
      ['an unknown parameter', { 'shoe-size': '42' }, 'shoe-size'],
      ['a parameter of another resource type', { status: 'active' }, 'status'],
      ['a chained parameter', { 'general-practitioner.name': 'x' }, 'general-practitioner.name'],
      [
        'an _include of a parameter this service does not serve',
        { _include: 'Patient:organization' },
        '_include=Patient:organization',
      ],
      ['an _include of another type', { _include: 'Encounter:subject' }, '_include=Encounter:subject'],
      ['an _include of a non-reference', { _include: 'Patient:name' }, '_include=Patient:name'],
      ['a wildcard _include', { _include: '*' }, '_include=*'],
      [
        'a _revinclude not pointing here',
        { _revinclude: 'Encounter:subject:Group' },
        '_revinclude=Encounter:subject:Group',
      ],
      ['an unknown modifier on an unknown code', { 'shoe:exact': '1' }, 'shoe:exact'],
      ['an unknown sort key', { _sort: 'shoe-size' }, '_sort=shoe-size'],
    ])('rejects %s with 400 UnknownSearchParameter naming it', (_label, query, name) => {
      const error = rejection(() => registry.parseSearch('Patient', query));
      expect(error.code).toBe(FhirErrorCode.UnknownSearchParameter);
      expect(error.status).toBe(400);
      expect(error.outcome.issue[0].diagnostics).toBe(`Unknown search parameter: ${name}`);
    });

    it('leaves out unknown parameters under lenient handling, naming each once, and keeps the rest', () => {
      const request = registry.parseSearch(
        'Patient',
        new URLSearchParams(
          'family=okafor&shoe-size=42&shoe-size=43&general-practitioner.name=x&_sort=shoe,-birthdate&_include=Patient:organization',
        ),
        { handling: 'lenient' },
      );
      expect(request.ignored).toEqual([
        'shoe-size',
        'general-practitioner.name',
        '_sort=shoe',
        '_include=Patient:organization',
      ]);
      expect(request.filters).toEqual([
        { type: 'string', code: 'family', match: 'prefix', values: ['okafor'] },
      ]);
      expect(request.sort).toEqual([{ code: 'birthdate', descending: true }]);
      // links repeat what was applied, never the ignored parameters
      expect(request.params).toEqual([
        ['family', 'okafor'],
        ['_sort', '-birthdate'],
      ]);
      expect(
        registry.parseSearch('Patient', { family: 'x' }, { handling: 'lenient' }).ignored,
      ).toBeUndefined();
      // a malformed value of a known parameter is refused either way
      expect(
        rejection(() => registry.parseSearch('Patient', { birthdate: 'x' }, { handling: 'lenient' })).status,
      ).toBe(400);
    });

    it('resolves _include and _revinclude against the reference parameters it serves', () => {
      const request = registry.parseSearch('Encounter', {
        _include: 'Encounter:subject',
        _revinclude: 'ServiceRequest:encounter',
      });
      // Encounter.subject may point at Patient or Group; only Patient is served here
      expect(request.include).toEqual([
        { sourceType: 'Encounter', code: 'subject', targetTypes: ['Patient'] },
      ]);
      expect(request.revinclude).toEqual([
        { sourceType: 'ServiceRequest', code: 'encounter', targetTypes: ['Encounter'] },
      ]);
      expect(request.params).toEqual([
        ['_include', 'Encounter:subject'],
        ['_revinclude', 'ServiceRequest:encounter'],
      ]);
      const patients = registry.parseSearch('Patient', {
        _revinclude: ['Encounter:subject', 'ServiceRequest:patient:Patient'],
      });
      expect(patients.revinclude).toEqual([
        { sourceType: 'Encounter', code: 'subject', targetTypes: ['Patient'] },
        { sourceType: 'ServiceRequest', code: 'patient', targetTypes: ['Patient'] },
      ]);
    });

    it('parses _summary and _elements, refusing bad values and the two together', () => {
      expect(registry.parseSearch('Patient', { _summary: 'true' }).summary).toBe('true');
      expect(registry.parseSearch('Patient', { _summary: 'false' }).summary).toBeUndefined();
      const counted = registry.parseSearch('Patient', { _summary: 'count', _total: 'none', _count: '50' });
      expect(counted).toMatchObject({ summary: 'count', count: 0, total: true });
      expect(registry.parseSearch('Patient', { _elements: 'name, birthDate' }).elements).toEqual([
        'name',
        'birthDate',
      ]);
      for (const query of [
        { _summary: 'yes' },
        { _elements: 'name.family' },
        { _elements: "name');drop" },
        { _summary: 'true', _elements: 'name' },
      ]) {
        const error = rejection(() => registry.parseSearch('Patient', query, { handling: 'lenient' }));
        expect(error.code).toBe(FhirErrorCode.Invalid);
        expect(error.status).toBe(400);
      }
    });

    it('property: any query is a SearchRequest or a 400 FhirException, lenient never refuses an unknown name', () => {
      const names = fc.oneof(
        fc.constantFrom(
          '_id',
          'family',
          'birthdate',
          'gender',
          'identifier',
          'name:exact',
          'gender:not',
          'family:missing',
          '_sort',
          '_total',
          '_count',
          '_offset',
          '_summary',
          '_elements',
          '_include',
          '_revinclude',
          '_format',
        ),
        fc.string({ maxLength: 12 }),
      );
      const values = fc.oneof(
        fc.constantFrom(
          '',
          'x',
          '2000',
          'true',
          'count',
          'Encounter:subject',
          'name,-birthdate',
          "' OR 1=1 --",
        ),
        fc.string({ maxLength: 20 }),
      );
      fc.assert(
        fc.property(
          fc.array(fc.tuple(names, values), { maxLength: 8 }),
          fc.constantFrom('strict' as const, 'lenient' as const),
          (pairs, handling) => {
            const query = new URLSearchParams(pairs);
            try {
              const request = registry.parseSearch('Patient', query, { handling });
              expect(request.count).toBeLessThanOrEqual(MAX_PAGE_SIZE);
              if (handling === 'strict') expect(request.ignored).toBeUndefined();
            } catch (error) {
              expect(error).toBeInstanceOf(FhirException);
              expect((error as FhirException).status).toBe(400);
              if (handling === 'lenient')
                expect((error as FhirException).code).not.toBe(FhirErrorCode.UnknownSearchParameter);
            }
          },
        ),
        { numRuns: 500 },
      );
    });

    it('caps _count at 100 and rejects malformed paging values', () => {
      expect(registry.parseSearch('Patient', { _count: '1000' }).count).toBe(MAX_PAGE_SIZE);
      expect(registry.parseSearch('Patient', { _count: '7', _offset: '14' })).toMatchObject({
        count: 7,
        offset: 14,
      });
      expect(registry.parseSearch('Patient', { _count: '0' }).count).toBe(0);
      for (const bad of ['-1', 'ten', '1.5', '', '99999999999']) {
        if (bad === '') {
          expect(registry.parseSearch('Patient', { _count: bad }).count).toBe(20);
          continue;
        }
        const error = rejection(() => registry.parseSearch('Patient', { _count: bad }));
        expect(error.code).toBe(FhirErrorCode.Invalid);
        expect(error.status).toBe(400);
      }
      expect(rejection(() => registry.parseSearch('Patient', { _offset: 'x' })).status).toBe(400);
      expect(rejection(() => registry.parseSearch('Patient', { _total: 'maybe' })).status).toBe(400);
      expect(registry.parseSearch('Patient', { _total: 'none' }).total).toBe(false);
    });

    it('rejects malformed values without echoing them', () => {
      const secret = 'Xylophone-4471';
      for (const query of [
        { birthdate: secret },
        { birthdate: 'xx1970' },
        { birthdate: '1970-02-30' },
        { identifier: `a|b|${secret}` },
        { 'name:sounds-like': secret },
        { 'gender:text': secret },
        { 'family:missing': secret },
        { '_id:missing': 'true' },
        { name: `a\u0000${secret}` },
        { name: { nested: secret } },
      ]) {
        const error = rejection(() => registry.parseSearch('Patient', query));
        expect(error.status).toBe(400);
        expect(JSON.stringify(error.outcome)).not.toContain(secret);
      }
      for (const subject of ['Group/x/y/z', 'Patient/bad id', 'Nonsense/1', 'Observation/1']) {
        expect(rejection(() => registry.parseSearch('Encounter', { patient: subject })).status).toBe(400);
      }
      expect(rejection(() => registry.parseSearch('Encounter', { 'subject:Observation': '1' })).status).toBe(
        400,
      );
    });

    it('ignores empty values, answers an unserved type with 404', () => {
      expect(registry.parseSearch('Patient', { name: '' }).filters).toEqual([]);
      expect(rejection(() => registry.parseSearch('Observation', {})).status).toBe(404);
    });
  });

  describe('index extraction', () => {
    it('indexes a Patient by the registered parameters only', () => {
      const patient: Patient = {
        resourceType: 'Patient',
        id: 'p1',
        identifier: [{ system: 'urn:mrn', value: '123' }, { value: 'no-system' }],
        name: [{ family: 'Müller', given: ['Jürgen', 'K.'] }],
        birthDate: '1961-02',
        gender: 'male',
        telecom: [{ system: 'phone', value: '555' }],
      };
      const rows = extractSearchIndex(registry, patient);
      const by = (code: string): unknown[] =>
        rows
          .filter((r) => r.code === code)
          .map(({ system, value, valueNorm, dateLo, dateHi }) => ({
            system,
            value,
            valueNorm,
            dateLo,
            dateHi,
          }));
      expect(by('identifier')).toEqual([
        { system: 'urn:mrn', value: '123', valueNorm: null, dateLo: null, dateHi: null },
        { system: null, value: 'no-system', valueNorm: null, dateLo: null, dateHi: null },
      ]);
      expect(by('name').map((r) => (r as { valueNorm: string }).valueNorm)).toEqual([
        'muller',
        'jurgen',
        'k.',
      ]);
      expect(by('family')).toHaveLength(1);
      expect(by('given')).toHaveLength(2);
      expect(by('birthdate')).toEqual([
        {
          system: null,
          value: null,
          valueNorm: null,
          dateLo: '1961-02-01T00:00:00.000Z',
          dateHi: '1961-03-01T00:00:00.000Z',
        },
      ]);
      expect(by('gender')).toEqual([
        {
          system: 'http://hl7.org/fhir/administrative-gender',
          value: 'male',
          valueNorm: null,
          dateLo: null,
          dateHi: null,
        },
      ]);
      expect(rows.some((r) => r.code === '_id' || r.code === 'telecom')).toBe(false);
    });

    it('indexes references as Type/id and codeable concepts per coding', () => {
      const order: ServiceRequest = {
        resourceType: 'ServiceRequest',
        status: 'active',
        intent: 'order',
        subject: { reference: 'Patient/p1' },
        encounter: { reference: 'https://emr.example/fhir/Encounter/e1/_history/3' },
        category: [{ coding: [{ system: 'http://snomed.info/sct', code: '108252007' }, { code: 'lab' }] }],
      };
      const rows = extractSearchIndex(registry, order);
      expect(rows.filter((r) => r.code === 'subject' || r.code === 'patient').map((r) => r.ref)).toEqual([
        'Patient/p1',
        'Patient/p1',
      ]);
      expect(rows.find((r) => r.code === 'encounter')).toMatchObject({
        ref: 'Encounter/e1',
        system: 'Encounter',
        value: 'e1',
      });
      expect(rows.filter((r) => r.code === 'category').map((r) => [r.system, r.value])).toEqual([
        ['http://snomed.info/sct', '108252007'],
        [null, 'lab'],
      ]);
    });

    it('does not index a Group subject under patient', () => {
      const rows = extractSearchIndex(registry, {
        resourceType: 'Encounter',
        status: 'planned',
        class: { code: 'AMB' },
        subject: { reference: 'Group/g1' },
      });
      expect(rows.map((r) => r.code)).toEqual(['subject', 'status']);
    });
  });
});

describe('search values', () => {
  it('computes date ranges at the precision given', () => {
    expect(dateRange('2024')).toEqual({ lo: '2024-01-01T00:00:00.000Z', hi: '2025-01-01T00:00:00.000Z' });
    expect(dateRange('2024-02')).toEqual({ lo: '2024-02-01T00:00:00.000Z', hi: '2024-03-01T00:00:00.000Z' });
    expect(dateRange('2024-12-31')).toEqual({
      lo: '2024-12-31T00:00:00.000Z',
      hi: '2025-01-01T00:00:00.000Z',
    });
    expect(dateRange('2024-02-29T10:00:00+02:00')).toEqual({
      lo: '2024-02-29T08:00:00.000Z',
      hi: '2024-02-29T08:00:01.000Z',
    });
    expect(dateRange('2024-02-29T10:00Z')?.hi).toBe('2024-02-29T10:01:00.000Z');
    expect(dateRange('0099-01-01')?.lo).toBe('0099-01-01T00:00:00.000Z');
    expect(dateRange('9999')?.hi).toBe('infinity');
    for (const bad of ['2023-02-29', '2024-13', '2024-1-1', 'today', '2024-01-01T25:00Z', '']) {
      expect(dateRange(bad)).toBeUndefined();
    }
  });

  it('normalises strings for case- and accent-insensitive matching', () => {
    expect(normalizeSearchString('  Müller-Lüdenscheidt ')).toBe('muller-ludenscheidt');
    expect(normalizeSearchString('ÅNGSTRÖM')).toBe('angstrom');
    expect(normalizeSearchString('Muñoz  García')).toBe('munoz garcia');
  });

  it('splits on unescaped separators only', () => {
    expect(splitUnescaped('a,b\\,c,d', ',')).toEqual(['a', 'b\\,c', 'd']);
    expect(splitUnescaped('sys|code\\|x', '|')).toEqual(['sys', 'code\\|x']);
  });
});
