import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import {
  FhirExceptionFilter,
  FhirResourceStore,
  FhirValidator,
  parseConsultFindingsPayload,
  SearchParameterRegistry,
} from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { telemedicineConfig } from '../src/config';
import { LocalConsultCommitForSpecs } from '../src/consults/consult-commit.local';
import { consultRecordBranch } from '../src/consults/consult-record.branch';
import { migrations } from '../src/database/migrations';
import { seedConsultDirectory } from '../src/database/seeds/consult-directory';
import { TELEMEDICINE_RESOURCES } from '../src/fhir-resources';
import { migrations as inboxMigrations } from '../src/referral-inbox/database/migrations';
import { REFERRAL_INBOX_RESOURCES } from '../src/referral-inbox/fhir-resources';
import { recommendationBranch } from '../src/referral-inbox/recommendation.branch';
import { TelemedicineModule } from '../src/telemedicine.module';
import { completionParameters, consultRequest, virtualSession } from '../src/testing/consult-examples';

// Ports 3800–3819 are telemedicine's specs'.
const PORT = 3800;

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(url: string, body?: unknown): Promise<Reply> {
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/fhir+json' },
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
  const drops: (() => Promise<void>)[] = [];
  const dbs = {} as Record<'telemedicine' | 'emr' | 'inbox', Database>;
  let app: INestApplication;
  let base: string;
  let everything: () => Promise<number>;

  beforeAll(async () => {
    const validator = new FhirValidator();
    const made = await Promise.all([
      createTestDatabase('telemedicine', migrations),
      createTestDatabase('telemedicine-emr', migrations),
      createTestDatabase('referral-inbox', inboxMigrations),
    ]);
    drops.push(...made.map((m) => m.drop));
    dbs.telemedicine = new Database(made[0].settings, 'telemedicine-spec');
    dbs.emr = new Database(made[1].settings, 'telemedicine-spec-emr');
    dbs.inbox = new Database(made[2].settings, 'telemedicine-spec-inbox');
    await seedConsultDirectory(dbs.telemedicine);
    // The EMR's chart, reduced to what its branch checks: the patient, and the findings kept once.
    const chart = new FhirResourceStore(
      new SearchParameterRegistry({ Patient: ['_id'], ...TELEMEDICINE_RESOURCES }),
    );
    await chart.create(dbs.emr, { resourceType: 'Patient' }, { id: 'pat-0001' });
    const inbox = new FhirResourceStore(new SearchParameterRegistry(REFERRAL_INBOX_RESOURCES));
    const local = new FhirResourceStore(new SearchParameterRegistry(TELEMEDICINE_RESOURCES));
    const commit = new LocalConsultCommitForSpecs({
      emr: {
        db: dbs.emr,
        work: async (tx, payload) => {
          const findings = parseConsultFindingsPayload(validator, payload);
          if (!(await chart.exists(tx, 'Patient', findings.patientId)))
            throw new Error(`Patient/${findings.patientId} is not in the chart`);
          await chart.createOnce(tx, findings.encounter);
          await chart.createOnce(tx, findings.diagnosticReport);
        },
      },
      telemedicine: { db: dbs.telemedicine, work: consultRecordBranch(local, validator) },
      'referral-inbox': { db: dbs.inbox, work: recommendationBranch(inbox, validator) },
    });
    const config = telemedicineConfig({
      ...process.env,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
      PGDATABASE: made[0].settings.database,
    });
    app = await createServiceApp(
      TelemedicineModule.forRoot(config, { consultCommit: { useValue: commit } }),
      config,
      {
        filters: [new FhirExceptionFilter()],
      },
    );
    await app.listen(PORT, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}/fhir`;
    everything = async () =>
      (await versions(dbs.telemedicine)) + (await versions(dbs.emr)) + (await versions(dbs.inbox));
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all(Object.values(dbs).map((db) => db.close()));
    await Promise.all(drops.map((drop) => drop()));
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

  it('completes a consult: the chart, the consult record and the referring site each get their part', async () => {
    const sr = (await call(`${base}/ServiceRequest`, consultRequest())).body.id as string;
    const session = (await call(`${base}/Encounter`, virtualSession(sr))).body.id as string;
    const done = await call(`${base}/ServiceRequest/${sr}/$complete`, completionParameters());
    expect(done.status).toBe(200);
    expect(done.headers.get('x-gtid')).toMatch(/^[0-9a-f-]{36}$/);
    const out = Object.fromEntries(
      (done.body.parameter as { name: string; valueReference?: { reference: string } }[]).map((p) => [
        p.name,
        p.valueReference?.reference,
      ]),
    );
    expect(out.session).toBe(`Encounter/${session}`);
    expect((await call(`${base}/ServiceRequest/${sr}`)).body).toMatchObject({ status: 'completed' });
    expect((await call(`${base}/Encounter/${session}`)).body).toMatchObject({ status: 'finished' });
    expect((await call(`${base}/${out.diagnosticReport}`)).body).toMatchObject({ status: 'final' });
    const [, reportId] = (out.diagnosticReport ?? '').split('/');
    const [, communicationId] = (out.communication ?? '').split('/');
    const inChart = await dbs.emr.query('SELECT id FROM fhir_resource WHERE id = ANY($1)', [
      [reportId, session],
    ]);
    expect(inChart).toHaveLength(2);
    const inInbox = await dbs.inbox.query<{ content: Record<string, unknown> }>(
      'SELECT content FROM fhir_resource WHERE id = $1',
      [communicationId],
    );
    expect(inInbox[0]?.content).toMatchObject({ recipient: [{ reference: 'Organization/site-0001' }] });
    const again = await call(`${base}/ServiceRequest/${sr}/$complete`, completionParameters());
    expect(again.status).toBe(409);
    expect(again.body.resourceType).toBe('OperationOutcome');
  });

  it('answers 409 when the commit aborts (a patient the chart does not hold), nothing written', async () => {
    const sr = (await call(`${base}/ServiceRequest`, consultRequest('pat-0002'))).body.id as string;
    await call(`${base}/Encounter`, virtualSession(sr, 'pat-0002'));
    const before = await everything();
    const aborted = await call(`${base}/ServiceRequest/${sr}/$complete`, completionParameters());
    expect(aborted.status).toBe(409);
    expect(aborted.body.resourceType).toBe('OperationOutcome');
    expect(await everything()).toBe(before);
    expect((await call(`${base}/ServiceRequest/${sr}`)).body).toMatchObject({ status: 'active' });
  });
});
