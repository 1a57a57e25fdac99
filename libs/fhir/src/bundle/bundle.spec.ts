import type { Bundle, Patient, ServiceRequest } from '@medplum/fhirtypes';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException } from '../errors/fhir-exception';
import { parseIfMatch, weakETag } from '../etag';
import { SearchParameterRegistry } from '../search/search-parameter-registry';
import type { Stored } from '../store/fhir-resource-store';
import { FhirValidator } from '../validation/fhir-validator';
import { historyBundle } from './history';
import { searchSetBundle } from './searchset';
import { parseTransactionBundle, transactionResponseBundle } from './transaction';

const validator = new FhirValidator();
let registry: SearchParameterRegistry;
beforeAll(() => {
  registry = new SearchParameterRegistry({ Patient: ['_id', 'name', 'birthdate', 'identifier'] });
}, 30_000);

function rejection(work: () => unknown): FhirException {
  try {
    work();
  } catch (error) {
    if (error instanceof FhirException) return error;
    throw error;
  }
  throw new Error('expected a FhirException');
}

const linkMap = (bundle: Bundle): Record<string, string> =>
  Object.fromEntries((bundle.link ?? []).map((l) => [l.relation, l.url]));

const patients = (n: number): Patient[] =>
  Array.from({ length: n }, (_, i) => ({ resourceType: 'Patient', id: `p${i}` }));

describe('searchset Bundle', () => {
  const base = 'https://emr.example/fhir/';

  it('carries total, absolute fullUrls and self/first/next/last on the first page', () => {
    const request = registry.parseSearch('Patient', { name: 'smi', _count: '2', _sort: 'birthdate' });
    const bundle = searchSetBundle({ baseUrl: base, request, total: 5, resources: patients(2) });
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 5 });
    expect(bundle.entry?.[0]).toEqual({
      fullUrl: 'https://emr.example/fhir/Patient/p0',
      resource: { resourceType: 'Patient', id: 'p0' },
      search: { mode: 'match' },
    });
    expect(linkMap(bundle)).toEqual({
      self: 'https://emr.example/fhir/Patient?name=smi&_sort=birthdate&_count=2&_offset=0',
      first: 'https://emr.example/fhir/Patient?name=smi&_sort=birthdate&_count=2&_offset=0',
      next: 'https://emr.example/fhir/Patient?name=smi&_sort=birthdate&_count=2&_offset=2',
      last: 'https://emr.example/fhir/Patient?name=smi&_sort=birthdate&_count=2&_offset=4',
    });
  });

  it('has previous and next in the middle, previous only on the last page', () => {
    const middle = registry.parseSearch('Patient', { _count: '2', _offset: '2' });
    expect(
      Object.keys(
        linkMap(searchSetBundle({ baseUrl: base, request: middle, total: 5, resources: patients(2) })),
      ),
    ).toEqual(['self', 'first', 'previous', 'next', 'last']);
    const last = registry.parseSearch('Patient', { _count: '2', _offset: '4' });
    const links = linkMap(
      searchSetBundle({ baseUrl: base, request: last, total: 5, resources: patients(1) }),
    );
    expect(links.previous).toBe('https://emr.example/fhir/Patient?_count=2&_offset=2');
    expect(links.next).toBeUndefined();
  });

  it('repeats the accepted parameters only, encoded, and shows the capped count', () => {
    const request = registry.parseSearch('Patient', {
      identifier: 'urn:mrn|1 2',
      birthdate: ['ge1970', 'lt1980'],
      _count: '500',
    });
    const self = linkMap(searchSetBundle({ baseUrl: base, request, total: 0, resources: [] })).self;
    expect(self).toBe(
      'https://emr.example/fhir/Patient?identifier=urn%3Amrn%7C1+2&birthdate=ge1970&birthdate=lt1980&_count=100&_offset=0',
    );
    expect(new URL(self).searchParams.getAll('birthdate')).toEqual(['ge1970', 'lt1980']);
  });

  it('without a total, offers next after a full page only', () => {
    const request = registry.parseSearch('Patient', { _count: '2', _total: 'none' });
    const full = searchSetBundle({ baseUrl: base, request, resources: patients(2) });
    expect(full.total).toBeUndefined();
    expect(linkMap(full).next).toBeDefined();
    expect(linkMap(full).last).toBeUndefined();
    expect(linkMap(searchSetBundle({ baseUrl: base, request, resources: patients(1) })).next).toBeUndefined();
  });

  it('is a valid FHIR R4 Bundle', () => {
    const request = registry.parseSearch('Patient', { _count: '1' });
    const bundle = searchSetBundle({
      baseUrl: base,
      request,
      total: 3,
      resources: [{ resourceType: 'Patient', id: 'p0' }],
    });
    expect(validator.validate(bundle, 'Bundle')).toBe(bundle);
  });
});

describe('history Bundle', () => {
  it('lists versions with request/response and links', () => {
    const bundle = historyBundle({
      baseUrl: 'http://lis/fhir',
      resourceType: 'Patient',
      id: 'p1',
      count: 2,
      offset: 0,
      page: {
        total: 3,
        entries: [
          {
            resourceType: 'Patient',
            id: 'p1',
            versionId: '3',
            lastUpdated: '2024-01-03T00:00:00.000Z',
            deleted: true,
          },
          {
            resourceType: 'Patient',
            id: 'p1',
            versionId: '2',
            lastUpdated: '2024-01-02T00:00:00.000Z',
            deleted: false,
            resource: { resourceType: 'Patient', id: 'p1' },
          },
        ],
      },
    });
    expect(bundle.type).toBe('history');
    expect(bundle.entry?.map((e) => [e.request?.method, e.response?.etag, e.resource === undefined])).toEqual(
      [
        ['DELETE', 'W/"3"', true],
        ['PUT', 'W/"2"', false],
      ],
    );
    expect(linkMap(bundle).next).toBe('http://lis/fhir/Patient/p1/_history?_count=2&_offset=2');
    expect(validator.validate(bundle, 'Bundle')).toBe(bundle);
  });
});

describe('transaction Bundles', () => {
  const order = (patientRef: string, encounterRef?: string): ServiceRequest => ({
    resourceType: 'ServiceRequest',
    status: 'active',
    intent: 'order',
    subject: { reference: patientRef },
    ...(encounterRef === undefined ? {} : { encounter: { reference: encounterRef } }),
  });

  function transaction(entries: NonNullable<Bundle['entry']>): Bundle {
    return { resourceType: 'Bundle', type: 'transaction', entry: entries };
  }

  it('assigns ids to POST entries and rewrites urn:uuid references to them', () => {
    let n = 0;
    const parsed = parseTransactionBundle(
      validator,
      transaction([
        {
          fullUrl: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a',
          resource: { resourceType: 'Patient', name: [{ family: 'Doe' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          fullUrl: 'urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059',
          resource: order('urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a', 'Encounter/e1'),
          request: { method: 'POST', url: 'ServiceRequest' },
        },
        {
          fullUrl: 'urn:uuid:0e6f0c07-4f41-4e6f-8f55-3d7e5d4ad1a1',
          resource: { resourceType: 'Patient', id: 'known-1', gender: 'female' },
          request: { method: 'PUT', url: 'Patient/known-1', ifMatch: 'W/"4"' },
        },
        {
          resource: order('urn:uuid:0e6f0c07-4f41-4e6f-8f55-3d7e5d4ad1a1'),
          request: { method: 'POST', url: 'ServiceRequest' },
        },
      ]),
      { newId: () => `new-${++n}` },
    );
    expect(parsed.entries.map((e) => [e.method, e.resourceType, e.id, e.ifMatch])).toEqual([
      ['POST', 'Patient', 'new-1', undefined],
      ['POST', 'ServiceRequest', 'new-2', undefined],
      ['PUT', 'Patient', 'known-1', '4'],
      ['POST', 'ServiceRequest', 'new-3', undefined],
    ]);
    expect(parsed.entries[0].resource.id).toBe('new-1');
    expect((parsed.entries[1].resource as ServiceRequest).subject?.reference).toBe('Patient/new-1');
    expect((parsed.entries[1].resource as ServiceRequest).encounter?.reference).toBe('Encounter/e1');
    expect((parsed.entries[3].resource as ServiceRequest).subject?.reference).toBe('Patient/known-1');
    expect(parsed.references).toEqual({
      'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a': 'Patient/new-1',
      'urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059': 'ServiceRequest/new-2',
      'urn:uuid:0e6f0c07-4f41-4e6f-8f55-3d7e5d4ad1a1': 'Patient/known-1',
    });
  });

  it('assigns UUIDs by default', () => {
    const parsed = parseTransactionBundle(
      validator,
      transaction([{ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } }]),
    );
    expect(parsed.entries[0].id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it.each([
    [
      'a non-transaction Bundle',
      {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } }],
      },
      'Bundle.type',
    ],
    [
      'a DELETE entry',
      transaction([
        { request: { method: 'DELETE', url: 'Patient/1' }, resource: { resourceType: 'Patient' } },
      ]),
      'Bundle.entry[0].request.method',
    ],
    [
      'a POST url that is not the type',
      transaction([{ request: { method: 'POST', url: 'Encounter' }, resource: { resourceType: 'Patient' } }]),
      'Bundle.entry[0].request.url',
    ],
    [
      'a PUT url without id',
      transaction([{ request: { method: 'PUT', url: 'Patient' }, resource: { resourceType: 'Patient' } }]),
      'Bundle.entry[0].request.url',
    ],
    [
      'a PUT whose resource id differs',
      transaction([
        { request: { method: 'PUT', url: 'Patient/a' }, resource: { resourceType: 'Patient', id: 'b' } },
      ]),
      'Bundle.entry[0].resource.id',
    ],
    [
      'a conditional create',
      transaction([
        {
          request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=x' },
          resource: { resourceType: 'Patient' },
        },
      ]),
      'Bundle.entry[0].request',
    ],
    [
      'two entries for one resource',
      transaction([
        { request: { method: 'PUT', url: 'Patient/a' }, resource: { resourceType: 'Patient' } },
        { request: { method: 'PUT', url: 'Patient/a' }, resource: { resourceType: 'Patient' } },
      ]),
      'Bundle.entry[1].request.url',
    ],
    [
      'a reference to a fullUrl not in the Bundle',
      transaction([
        {
          request: { method: 'POST', url: 'ServiceRequest' },
          resource: order('urn:uuid:00000000-0000-4000-8000-000000000000'),
        },
      ]),
      'Bundle.entry[0].resource.subject.reference',
    ],
  ])('rejects %s with 400 pointing at the element', (_label, body, expression) => {
    const error = rejection(() => parseTransactionBundle(validator, body));
    expect(error.code).toBe(FhirErrorCode.Invalid);
    expect(error.outcome.issue[0].expression).toEqual([expression]);
  });

  it('rejects an entry without request (the R4 invariant bdl-3)', () => {
    const error = rejection(() =>
      parseTransactionBundle(validator, transaction([{ resource: { resourceType: 'Patient' } }])),
    );
    expect(error.code).toBe(FhirErrorCode.Invalid);
    expect(error.outcome.issue[0].code).toBe('invariant');
  });

  it('validates every resource in the Bundle', () => {
    const error = rejection(() =>
      parseTransactionBundle(
        validator,
        transaction([
          {
            request: { method: 'POST', url: 'Patient' },
            resource: { resourceType: 'Patient', gender: 'x' } as unknown as Patient,
          },
        ]),
      ),
    );
    expect(error.outcome.issue[0].expression).toEqual(['Bundle.entry[0].resource.gender']);
  });

  it('refuses types the service does not accept with 405', () => {
    const error = rejection(() =>
      parseTransactionBundle(
        validator,
        transaction([{ request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } }]),
        { allowedTypes: ['ServiceRequest'] },
      ),
    );
    expect(error.status).toBe(405);
  });

  it('builds the transaction-response Bundle in request order', () => {
    const stored = (id: string, versionId: string): Stored<Patient> => ({
      resourceType: 'Patient',
      id,
      meta: { versionId, lastUpdated: '2024-05-01T10:00:00.000Z' },
    });
    const bundle = transactionResponseBundle('https://emr.example/fhir', [
      { resource: stored('a', '1'), created: true },
      { resource: stored('b', '4'), created: false },
    ]);
    expect(bundle.type).toBe('transaction-response');
    expect(bundle.entry?.map((e) => e.response)).toEqual([
      {
        status: '201 Created',
        location: 'https://emr.example/fhir/Patient/a/_history/1',
        etag: 'W/"1"',
        lastModified: '2024-05-01T10:00:00.000Z',
      },
      {
        status: '200 OK',
        location: 'https://emr.example/fhir/Patient/b/_history/4',
        etag: 'W/"4"',
        lastModified: '2024-05-01T10:00:00.000Z',
      },
    ]);
    expect(validator.validate(bundle, 'Bundle')).toBe(bundle);
  });
});

describe('ETags', () => {
  it('formats and parses weak ETags', () => {
    expect(weakETag('3')).toBe('W/"3"');
    expect(parseIfMatch('W/"3"')).toBe('3');
    expect(parseIfMatch('"12"')).toBe('12');
    expect(parseIfMatch('7')).toBe('7');
    expect(parseIfMatch(['W/"2"'])).toBe('2');
    expect(parseIfMatch(undefined)).toBeUndefined();
    expect(parseIfMatch(' ')).toBeUndefined();
  });
});
