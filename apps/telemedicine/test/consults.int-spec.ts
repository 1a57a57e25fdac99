import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { FhirExceptionFilter } from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { telemedicineConfig } from '../src/config';
import { migrations } from '../src/database/migrations';
import { seedConsultDirectory } from '../src/database/seeds/consult-directory';
import { TelemedicineModule } from '../src/telemedicine.module';
import { completionParameters, consultRequest, virtualSession } from '../src/testing/consult-examples';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

// Ports 3800–3819 are this spec's (consult-completion.int-spec has 3820–3869).
const PORT = 3800;

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(url: string, body?: unknown): Promise<Reply> {
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: testAuthorizationFor(url),
      ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
  };
}

async function versions(db: Database): Promise<number> {
  return (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource_history'))[0].n;
}

const ids = (bundle: Record<string, unknown>): string[] =>
  ((bundle.entry ?? []) as { resource: { id: string } }[]).map((e) => e.resource.id).sort();

describe('telemedicine consults over HTTP (real Nest app, real PostgreSQL)', () => {
  let drop: () => Promise<void>;
  let db: Database;
  let app: INestApplication;
  let base: string;
  /** Every version ever written here: a refused request changes nothing (completions: see consult-completion.int-spec). */
  let everything: () => Promise<number>;

  beforeAll(async () => {
    const made = await createTestDatabase('telemedicine', migrations);
    drop = made.drop;
    db = new Database(made.settings, 'telemedicine-spec');
    await seedConsultDirectory(db);
    const config = telemedicineConfig({
      ...process.env,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
      PGDATABASE: made.settings.database,
    });
    app = await createServiceApp(TelemedicineModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await app.listen(PORT, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}/fhir`;
    everything = () => versions(db);
  });

  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('creates, reads and searches consult requests and their virtual sessions', async () => {
    const created = await call(`${base}/ServiceRequest`, consultRequest());
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await call(`${base}/ServiceRequest/${id}`)).body).toMatchObject({ status: 'active' });
    expect(ids((await call(`${base}/ServiceRequest?patient=Patient/pat-0001&status=active`)).body)).toContain(
      id,
    );
    expect(ids((await call(`${base}/ServiceRequest?subject=Patient/pat-0002`)).body)).toEqual([]);
    const session = await call(`${base}/Encounter`, virtualSession(id));
    expect(session.status).toBe(201);
    const found = await call(`${base}/Encounter?based-on=ServiceRequest/${id}&class=VR`);
    expect(ids(found.body)).toEqual([session.body.id]);
    expect((await call(`${base}/Practitioner/expert-0001`)).status).toBe(200);
  });

  it.each([
    [
      'a requester that is not an Organization',
      { ...consultRequest(), requester: { reference: 'Practitioner/expert-0001' } },
      400,
    ],
    [
      'an unknown referring site',
      { ...consultRequest(), requester: { reference: 'Organization/site-9999' } },
      422,
    ],
    ['a consult request already completed', { ...consultRequest(), status: 'completed' }, 400],
    ['a body that is not FHIR', { resourceType: 'ServiceRequest', status: 'active' }, 400],
  ])('refuses %s with an OperationOutcome and writes nothing', async (_case, body, status) => {
    const before = await everything();
    const refused = await call(`${base}/ServiceRequest`, body);
    expect(refused.status).toBe(status);
    expect(refused.body.resourceType).toBe('OperationOutcome');
    expect(await everything()).toBe(before);
  });

  it('refuses a session that is not virtual or not of a known request, writing nothing', async () => {
    const sr = (await call(`${base}/ServiceRequest`, consultRequest())).body.id as string;
    const before = await everything();
    const ambulatory = { ...virtualSession(sr), class: { ...virtualSession(sr).class, code: 'AMB' } };
    expect((await call(`${base}/Encounter`, ambulatory)).status).toBe(400);
    expect((await call(`${base}/Encounter`, virtualSession('sr-unknown'))).status).toBe(422);
    expect((await call(`${base}/Encounter`, virtualSession(sr, 'pat-0002'))).status).toBe(400);
    expect(await everything()).toBe(before);
  });

  it('refuses a bad completion with a 4xx OperationOutcome and writes nothing anywhere', async () => {
    const sr = (await call(`${base}/ServiceRequest`, consultRequest())).body.id as string;
    const before = await everything();
    const noRecommendation = {
      resourceType: 'Parameters',
      parameter: [{ name: 'conclusion', valueString: 'c' }],
    };
    const cases: [string, unknown, number][] = [
      [`ServiceRequest/${sr}/$complete`, noRecommendation, 400],
      [`ServiceRequest/${sr}/$complete`, { resourceType: 'Patient' }, 400],
      [`ServiceRequest/${sr}/$complete`, completionParameters(), 422], // no session yet
      ['ServiceRequest/sr-unknown/$complete', completionParameters(), 404],
    ];
    for (const [path, body, status] of cases) {
      const refused = await call(`${base}/${path}`, body);
      expect([path, refused.status]).toEqual([path, status]);
      expect(refused.body.resourceType).toBe('OperationOutcome');
    }
    expect(await everything()).toBe(before);
  });
});
