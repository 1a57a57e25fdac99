import { Global, Inject, Injectable, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type {
  Bundle,
  CapabilityStatement,
  OperationOutcome,
  Patient,
  Resource,
  ServiceRequest,
} from '@medplum/fhirtypes';
import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  FhirErrorCode,
  FhirException,
  FhirExceptionFilter,
  FhirModule,
  FhirResourceStore,
  fhirStoreMigrations,
  SearchParameterRegistry,
  type FhirDeleteResult,
  type FhirUpdateContext,
  type FhirUpdateResult,
  type FhirWriteContext,
  type FhirWriter,
  type ParsedTransaction,
  type Stored,
  type TransactionResult,
} from '@hospital/fhir';

const resources = {
  Patient: ['_id', 'identifier', 'name', 'family', 'given', 'birthdate', 'gender'],
  Encounter: ['_id', 'subject', 'patient', 'status'],
  ServiceRequest: ['_id', 'subject', 'patient', 'category', 'status', 'identifier', 'encounter'],
};

const seenCorrelationIds: (string | undefined)[] = [];

/** The app side: every write in one local transaction through the store. */
@Injectable()
class TestWriter implements FhirWriter {
  constructor(
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(Database) private readonly db: Database,
  ) {}

  create(resource: Resource, context: FhirWriteContext): Promise<Stored<Resource>> {
    seenCorrelationIds.push(context.correlationId);
    const family = (resource as Patient).name?.[0]?.family;
    if (family === 'Explode') throw new Error('disk on fire at 10.1.2.3');
    if (family === 'Steered') {
      // Echoes what the request said beyond its body; `refuse` fails after the header was set.
      const mode = context.request?.parameter('_mode') ?? 'none';
      context.setHeader?.('x-seen', `${mode}/${context.request?.header('x-transaction-mode') ?? 'none'}`);
      if (mode === 'refuse') throw new FhirException(FhirErrorCode.Conflict, 'refused');
    }
    return this.db.transaction((tx) => this.store.create(tx, resource));
  }

  update(resource: Resource & { id: string }, context: FhirUpdateContext): Promise<FhirUpdateResult> {
    return this.db.transaction((tx) => this.store.update(tx, resource, { ifMatch: context.ifMatch }));
  }

  delete(resourceType: string, id: string): Promise<FhirDeleteResult> {
    return this.db.transaction((tx) => this.store.delete(tx, resourceType, id));
  }

  transaction(transaction: ParsedTransaction, context: FhirWriteContext): Promise<TransactionResult[]> {
    seenCorrelationIds.push(context.correlationId);
    return this.db.transaction(async (tx) => {
      const results: TransactionResult[] = [];
      for (const entry of transaction.entries) {
        if (entry.method === 'POST') {
          results.push({
            resource: await this.store.create(tx, entry.resource, { id: entry.id }),
            created: true,
          });
        } else {
          const { resource, created } = await this.store.update(tx, entry.resource, {
            ifMatch: entry.ifMatch,
          });
          results.push({ resource, created });
        }
      }
      return results;
    });
  }
}

async function startApp(
  database: Database,
  withWriter: boolean,
): Promise<{ app: INestApplication; url: string }> {
  @Global()
  @Module({ providers: [{ provide: Database, useValue: database }], exports: [Database] })
  class TestDatabaseModule {}

  @Module({
    imports: [
      TestDatabaseModule,
      FhirModule.forRoot({
        serviceName: 'fhirlib',
        resources,
        writes: withWriter
          ? { Patient: ['create', 'update', 'delete'], ServiceRequest: ['create', 'update'] }
          : {},
        transaction: withWriter,
        batch: withWriter,
        ...(withWriter ? { writer: TestWriter } : {}),
      }),
    ],
  })
  class TestAppModule {}

  const app = await NestFactory.create<NestExpressApplication>(TestAppModule, {
    bodyParser: false,
    logger: false,
  });
  app.useBodyParser('json', {
    limit: 4096,
    type: ['application/json', 'application/fhir+json', 'application/*+json'],
  });
  app.useGlobalFilters(new FhirExceptionFilter());
  await app.listen(0, '127.0.0.1');
  return { app, url: `${await app.getUrl()}/fhir` };
}

describe('FhirModule over HTTP', () => {
  let db: Database;
  let drop: () => Promise<void>;
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    const created = await createTestDatabase('fhirlib', fhirStoreMigrations);
    drop = created.drop;
    db = new Database(created.settings, 'test');
    ({ app, url: base } = await startApp(db, true));
  }, 60_000);

  afterAll(async () => {
    await app.close();
    await db.close();
    await drop();
  });

  async function call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; headers: Headers; json: Record<string, unknown> & Resource }> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/fhir+json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      json: JSON.parse(text) as Record<string, unknown> & Resource,
    };
  }

  const patient = (family: string, mrn: string): Patient => ({
    resourceType: 'Patient',
    identifier: [{ system: 'urn:mrn', value: mrn }],
    name: [{ family, given: ['Test'] }],
    gender: 'female',
    birthDate: '1990-01-01',
  });

  it('serves the CapabilityStatement generated from the registry', async () => {
    const { status, headers, json } = await call('GET', '/metadata');
    expect(status).toBe(200);
    expect(headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    const capability = json as unknown as CapabilityStatement;
    const registry = app.get(SearchParameterRegistry);
    for (const resource of capability.rest?.[0]?.resource ?? []) {
      expect(resource.searchParam?.filter((p) => p.type !== 'special').map((p) => p.name)).toEqual(
        registry.params(resource.type).map((p) => p.code),
      );
    }
    const interactions = (type: string): string[] | undefined =>
      capability.rest?.[0]?.resource?.find((r) => r.type === type)?.interaction?.map((i) => i.code);
    expect(interactions('Encounter')).toEqual(['read', 'vread', 'history-instance', 'search-type']);
    expect(interactions('Patient')).toContain('delete');
    expect(capability.rest?.[0]?.interaction).toEqual([{ code: 'transaction' }, { code: 'batch' }]);
    expect(capability.implementation?.url).toBe(base);
  });

  it('creates, reads, updates with If-Match, keeps history and soft-deletes', async () => {
    const created = await call('POST', '/Patient', patient('Okafor', 'H-1'), { 'x-gtid': 'gt-123' });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    expect(created.headers.get('etag')).toBe('W/"1"');
    expect(created.headers.get('location')).toBe(`${base}/Patient/${id}/_history/1`);
    expect(created.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect(seenCorrelationIds).toContain('gt-123');

    const read = await call('GET', `/Patient/${id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe('W/"1"');
    expect(read.headers.get('last-modified')).toBe(
      new Date(read.json.meta?.lastUpdated as string).toUTCString(),
    );

    const updated = await call(
      'PUT',
      `/Patient/${id}`,
      { ...read.json, gender: 'other' },
      { 'if-match': 'W/"1"' },
    );
    expect(updated.status).toBe(200);
    expect(updated.headers.get('etag')).toBe('W/"2"');
    const stale = await call(
      'PUT',
      `/Patient/${id}`,
      { ...read.json, gender: 'male' },
      { 'if-match': 'W/"1"' },
    );
    expect(stale.status).toBe(412);
    expect(stale.json.resourceType).toBe('OperationOutcome');

    const mismatch = await call('PUT', `/Patient/${id}`, { ...read.json, id: 'other-id' });
    expect(mismatch.status).toBe(400);

    const history = await call('GET', `/Patient/${id}/_history`);
    expect(history.status).toBe(200);
    expect((history.json as unknown as Bundle).entry?.map((e) => e.response?.etag)).toEqual([
      'W/"2"',
      'W/"1"',
    ]);
    const v1 = await call('GET', `/Patient/${id}/_history/1`);
    expect(v1.json.gender).toBe('female');
    expect(v1.headers.get('etag')).toBe('W/"1"');

    const deleted = await call('DELETE', `/Patient/${id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.json.resourceType).toBe('OperationOutcome');
    const gone = await call('GET', `/Patient/${id}`);
    expect(gone.status).toBe(410);
    expect((gone.json as unknown as OperationOutcome).issue[0].code).toBe('deleted');
  });

  it('honours If-None-Exist for a writer without its own conditional create (checked before create)', async () => {
    const body = patient('Conditional', 'H-COND');
    const first = await call('POST', '/Patient', body, { 'if-none-exist': 'identifier=urn:mrn|H-COND' });
    expect(first.status).toBe(201);
    const retried = await call('POST', '/Patient', body, { 'if-none-exist': 'identifier=urn:mrn|H-COND' });
    expect(retried.status).toBe(200);
    expect(retried.json.id).toBe(first.json.id);
    expect((await call('GET', '/Patient?identifier=urn:mrn|H-COND')).json.total).toBe(1);
  });

  it('creates on PUT to an unknown id with 201', async () => {
    const put = await call('PUT', '/Patient/put-created-1', {
      ...patient('Put', 'H-PUT'),
      id: 'put-created-1',
    });
    expect(put.status).toBe(201);
    expect(put.headers.get('location')).toBe(`${base}/Patient/put-created-1/_history/1`);
  });

  it('searches with paging links, and refuses unknown parameters with 400 under Prefer: handling=strict', async () => {
    for (const [family, mrn] of [
      ['Searchable', 'Q-1'],
      ['Searchable', 'Q-2'],
      ['Searchable', 'Q-3'],
    ]) {
      expect((await call('POST', '/Patient', patient(family, mrn))).status).toBe(201);
    }
    const page = await call('GET', '/Patient?family=searchable&_count=2&_sort=identifier');
    expect(page.status).toBe(200);
    const bundle = page.json as unknown as Bundle<Patient>;
    expect(bundle.type).toBe('searchset');
    expect(bundle.total).toBe(3);
    expect(bundle.entry?.map((e) => e.resource?.identifier?.[0]?.value)).toEqual(['Q-1', 'Q-2']);
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    expect(next).toBe(`${base}/Patient?family=searchable&_sort=identifier&_count=2&_offset=2`);
    const second = await fetch(next as string);
    const secondBundle = (await second.json()) as Bundle<Patient>;
    expect(secondBundle.entry?.map((e) => e.resource?.identifier?.[0]?.value)).toEqual(['Q-3']);
    expect(secondBundle.link?.map((l) => l.relation)).toEqual(['self', 'first', 'previous', 'last']);

    const unknown = await call('GET', '/Patient?shoe-size=42', undefined, { prefer: 'handling=strict' });
    expect(unknown.status).toBe(400);
    expect((unknown.json as unknown as OperationOutcome).issue[0].diagnostics).toBe(
      'Unknown search parameter: shoe-size',
    );
    const lenient = await call('GET', '/Patient?family=searchable&shoe-size=42');
    expect(lenient.status).toBe(200);
    expect((lenient.json as unknown as Bundle).total).toBe(3);
    expect((await call('GET', '/Patient?_count=abc')).status).toBe(400);
    expect((await call('GET', '/Patient?name=%00')).status).toBe(400);
    const byPost = await call('POST', '/Patient/_search?family=searchable&_count=1');
    expect(byPost.status).toBe(200);
    expect((byPost.json as unknown as Bundle).total).toBe(3);
  });

  it('runs a transaction Bundle, resolving urn:uuid references', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:5a3d5f4e-9d0b-4b8e-a3b5-0f6d2c1e7a11',
          resource: patient('Transacted', 'T-1'),
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: {
            resourceType: 'ServiceRequest',
            status: 'active',
            intent: 'order',
            subject: { reference: 'urn:uuid:5a3d5f4e-9d0b-4b8e-a3b5-0f6d2c1e7a11' },
          },
          request: { method: 'POST', url: 'ServiceRequest' },
        },
      ],
    };
    const { status, json } = await call('POST', '', bundle, { 'x-gtid': 'gt-tx-1' });
    expect(status).toBe(200);
    const response = json as unknown as Bundle;
    expect(response.type).toBe('transaction-response');
    expect(response.entry?.map((e) => e.response?.status)).toEqual(['201 Created', '201 Created']);
    const patientId = response.entry?.[0]?.resource?.id as string;
    const order = response.entry?.[1]?.resource as ServiceRequest;
    expect(order.subject?.reference).toBe(`Patient/${patientId}`);
    expect(seenCorrelationIds).toContain('gt-tx-1');
    const found = await call('GET', `/ServiceRequest?patient=${patientId}`);
    expect((found.json as unknown as Bundle).total).toBe(1);
  });

  it('runs a batch Bundle entry by entry: failed entries answer for themselves, the others are stored', async () => {
    const before = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource');
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: patient('Batched', 'B-1'), request: { method: 'POST', url: 'Patient' } },
        {
          resource: { resourceType: 'Patient', gender: 'x', name: [{ family: 'Secretname' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: { ...patient('Batched', 'B-2'), id: 'batch-put-1' },
          request: { method: 'PUT', url: 'Patient/batch-put-1' },
        },
        {
          resource: { resourceType: 'Encounter', status: 'planned', class: { code: 'AMB' } },
          request: { method: 'POST', url: 'Encounter' },
        },
        { resource: patient('Batched', 'B-3'), request: { method: 'GET', url: 'Patient' } },
      ],
    };
    const { status, json } = await call('POST', '', bundle);
    expect(status).toBe(200);
    const response = json as unknown as Bundle;
    expect(response.type).toBe('batch-response');
    expect(response.entry?.map((e) => e.response?.status)).toEqual([
      '201 Created',
      '400 Bad Request',
      '201 Created',
      '405 Method Not Allowed',
      '405 Method Not Allowed',
    ]);
    const invalid = response.entry?.[1]?.response?.outcome as OperationOutcome;
    expect(invalid.issue[0].expression).toEqual(['Patient.gender']);
    expect(JSON.stringify(invalid)).not.toContain('Secretname');
    expect(response.entry?.[2]?.response?.location).toMatch(/\/fhir\/Patient\/batch-put-1\/_history\/1$/);
    const after = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource');
    expect(after[0].n).toBe(before[0].n + 2);
    const malformed = await call('POST', '', { resourceType: 'Bundle', type: 'batch', entry: [{}] });
    expect(malformed.status).toBe(400);
  });

  it('answers bad input with 4xx OperationOutcomes and writes nothing', async () => {
    const before = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource');
    const invalid = await call('POST', '/Patient', {
      resourceType: 'Patient',
      gender: 'x',
      name: [{ family: 'Secretname' }],
    });
    expect(invalid.status).toBe(400);
    expect(invalid.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect((invalid.json as unknown as OperationOutcome).issue[0].expression).toEqual(['Patient.gender']);

    const malformed = await call('POST', '/Patient', '{"resourceType": "Patient", "name": Secretname}');
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect(JSON.stringify(malformed.json)).not.toContain('Secretname');

    const tooLarge = await call('POST', '/Patient', {
      ...patient('Large', 'L-1'),
      text: { status: 'generated', div: `<div>${'x'.repeat(5000)}</div>` },
    });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.json.resourceType).toBe('OperationOutcome');

    const wrongType = await call('POST', '/Patient', 'gender=female', { 'content-type': 'text/plain' });
    expect(wrongType.status).toBe(415);
    expect(wrongType.json.resourceType).toBe('OperationOutcome');

    const otherType = await call('POST', '/Patient', {
      resourceType: 'Encounter',
      status: 'planned',
      class: { code: 'AMB' },
    });
    expect(otherType.status).toBe(400);

    // Neither a transaction nor a batch: POST [base] takes no other Bundle.
    const badTransaction = await call('POST', '', {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ request: { method: 'POST', url: 'Patient' }, resource: patient('B', 'B-1') }],
    });
    expect(badTransaction.status).toBe(400);

    const after = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource');
    expect(after[0].n).toBe(before[0].n);
  });

  it('answers unknown types and routes with 404, unoffered interactions with 405', async () => {
    const unknownType = await call('GET', '/Observation');
    expect(unknownType.status).toBe(404);
    expect(unknownType.json.resourceType).toBe('OperationOutcome');
    expect((await call('GET', '/Observation/1')).status).toBe(404);
    const unknownRoute = await call('GET', '/Patient/1/_history/1/extra?name=Secret');
    expect(unknownRoute.status).toBe(404);
    expect(unknownRoute.json.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(unknownRoute.json)).not.toContain('Secret');
    const notOffered = await call('DELETE', '/Encounter/e1');
    expect(notOffered.status).toBe(405);
    expect(
      (
        await call('POST', '/Encounter', {
          resourceType: 'Encounter',
          status: 'planned',
          class: { code: 'AMB' },
        })
      ).status,
    ).toBe(405);
    expect((await call('DELETE', '/ServiceRequest/s1')).status).toBe(405);
  });

  it('hands a write its query parameters and headers, and keeps the headers it sets on a failure', async () => {
    const steered = await call('POST', '/Patient?_mode=tcc', patient('Steered', 'S-1'), {
      'x-transaction-mode': 'saga',
    });
    expect(steered.status).toBe(201);
    expect(steered.headers.get('x-seen')).toBe('tcc/saga');
    const refused = await call('POST', '/Patient?_mode=refuse', patient('Steered', 'S-2'));
    expect(refused.status).toBe(409);
    expect(refused.headers.get('x-seen')).toBe('refuse/none');
    expect(refused.json.resourceType).toBe('OperationOutcome');
    // A batch entry is a request of its own: the Bundle's parameters and answer are not its.
    const batch = await call('POST', '?_mode=refuse', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ resource: patient('Steered', 'S-3'), request: { method: 'POST', url: 'Patient' } }],
    });
    expect(batch.status).toBe(200);
    expect(batch.headers.get('x-seen')).toBeNull();
  });

  it('answers an unexpected failure with a generic 500', async () => {
    const failed = await call('POST', '/Patient', patient('Explode', 'X-1'));
    expect(failed.status).toBe(500);
    expect(failed.json).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'exception', diagnostics: 'Internal server error' }],
    });
  });

  describe('without a writer', () => {
    let readOnly: INestApplication;
    let readOnlyBase: string;
    beforeAll(async () => {
      ({ app: readOnly, url: readOnlyBase } = await startApp(db, false));
    }, 30_000);
    afterAll(() => readOnly.close());

    it('serves reads and answers every write with 405', async () => {
      const post = (path: string, body: unknown) =>
        fetch(`${readOnlyBase}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/fhir+json' },
          body: JSON.stringify(body),
        });
      expect((await post('/Patient', patient('Nope', 'N-1'))).status).toBe(405);
      expect((await post('', { resourceType: 'Bundle', type: 'transaction' })).status).toBe(405);
      expect((await post('', { resourceType: 'Bundle', type: 'batch' })).status).toBe(405);
      expect((await fetch(`${readOnlyBase}/Patient/put-created-1`, { method: 'DELETE' })).status).toBe(405);
      const read = await fetch(`${readOnlyBase}/Patient/put-created-1`);
      expect(read.status).toBe(200);
      const metadata = (await (await fetch(`${readOnlyBase}/metadata`)).json()) as CapabilityStatement;
      expect(metadata.rest?.[0]?.interaction).toBeUndefined();
      expect(
        metadata.rest?.[0]?.resource?.every((r) => !r.interaction?.some((i) => i.code === 'create')),
      ).toBe(true);
    });
  });
});
