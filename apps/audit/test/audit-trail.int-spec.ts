import { existsSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AuditEvent, Bundle, OperationOutcome } from '@medplum/fhirtypes';
import type { INestApplication } from '@nestjs/common';
import {
  FhirExceptionFilter,
  FhirResourceStore,
  recordSearch,
  SearchParameterRegistry,
} from '@hospital/fhir';
import {
  AUDIT_EXCHANGE,
  AUDIT_RECORD_TYPE,
  auditRoutingKey,
  createServiceApp,
  Database,
  type AuditRecord,
} from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { eventually } from '@hospital/platform/testing/waiting';
import { MESSAGE_PUBLISHER, type MessagePublisher } from '@hospital/transactions';
import { ServiceProcess } from '../../../scripts/lib/service-process';
import { findService, serviceEntry } from '../../../scripts/services';
import { auditConfig } from '../src/config';
import { AuditModule } from '../src/audit.module';
import { migrations as auditMigrations } from '../src/database/migrations';
import { testAuthorization, testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * The audit trail end to end over the real PostgreSQL and RabbitMQ: the LIS (a real process from `dist/`,
 * over real HTTP) records every read and search of patient data through its outbox; the audit service, started
 * after the records were written, stores each once in its hash chain; the trail is searched as FHIR
 * AuditEvents, exported as CSV, and the verification names the exact row an attacker edited or deleted.
 */
jest.setTimeout(60_000);

const LIS_PORT = 4200;
const AUDIT_PORT = 4201;
const NAMESPACE = `audit-spec-${randomBytes(4).toString('hex')}`;

/** The token a request of this spec carries: an auditor's on the audit service, a clinician's elsewhere. */
const authorizationFor = (url: string): string =>
  url.includes(`:${AUDIT_PORT}/`) ? testAuthorization('auditor') : testAuthorizationFor(url);

async function json<T>(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await fetch(url, { headers: { authorization: authorizationFor(url), ...headers } });
  const text = await response.text();
  return {
    status: response.status,
    body: (text === '' ? {} : JSON.parse(text)) as T,
    headers: response.headers,
  };
}

describe('the audit trail', () => {
  let lis: ServiceProcess | undefined;
  let audit: INestApplication | undefined;
  let lisDb: Database;
  let auditDb: Database;
  let auditDatabase = '';
  const drops: (() => Promise<void>)[] = [];
  const lisUrl = `http://127.0.0.1:${LIS_PORT}`;
  const auditUrl = `http://127.0.0.1:${AUDIT_PORT}`;

  const env = (database: string, port: number): NodeJS.ProcessEnv => ({
    ...process.env,
    PORT: String(port),
    PGDATABASE: database,
    LOG_LEVEL: 'silent',
    MESSAGING_NAMESPACE: NAMESPACE,
    OUTBOX_POLL_MS: '100',
  });

  async function startAudit(): Promise<INestApplication> {
    // Its own records (of the auditor's searches below) stay in its outbox, to be checked there, so the
    // chain holds exactly what the LIS and this spec sent.
    const config = auditConfig({ ...env(auditDatabase, AUDIT_PORT), OUTBOX_RELAY: 'false' });
    const app = await createServiceApp(AuditModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await app.listen(AUDIT_PORT, '127.0.0.1');
    return app;
  }

  const stored = async (): Promise<number> =>
    (await auditDb.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event'))[0].n;

  beforeAll(async () => {
    if (!existsSync(serviceEntry('lis')))
      throw new Error('the LIS runs from dist/: build it first (node scripts/build.mjs)');
    const lisCreated = await createTestDatabase('lis_audit_spec', [...findService('lis').migrations]);
    const auditCreated = await createTestDatabase('audit_audit_spec', auditMigrations);
    drops.push(lisCreated.drop, auditCreated.drop);
    auditDatabase = auditCreated.settings.database;
    lisDb = new Database(lisCreated.settings, 'lis-audit-spec');
    auditDb = new Database(auditCreated.settings, 'audit-audit-spec');
    // Patients as the LIS holds them (copies the EMR's record update writes), with its search parameters.
    const store = new FhirResourceStore(
      new SearchParameterRegistry(recordSearch('Patient', 'ServiceRequest')),
    );
    await lisDb.transaction(async (tx) => {
      for (const id of ['pat-a', 'pat-b', 'pat-c'])
        await store.create(tx, { resourceType: 'Patient', name: [{ family: `Family-${id}` }] }, { id });
    });
    lis = await ServiceProcess.start({
      name: 'lis',
      entry: serviceEntry('lis'),
      port: LIS_PORT,
      env: { ...env(lisCreated.settings.database, LIS_PORT), LOG_LEVEL: 'error' },
    });
    // The audit service declares its queue once, then goes down: records written meanwhile wait there.
    audit = await startAudit();
    await audit.close();
    audit = undefined;
  }, 90_000);

  afterAll(async () => {
    await audit?.close();
    await lis?.stop();
    await lisDb?.close();
    await auditDb?.close();
    for (const drop of drops) await drop().catch(() => undefined);
  });

  it('stores every access made while it was down once it is back: one record per access and per patient', async () => {
    expect((await json(`${lisUrl}/fhir/Patient/pat-a`)).status).toBe(200);
    const search = await json<Bundle>(`${lisUrl}/fhir/Patient?_count=10`);
    expect(search.status).toBe(200);
    expect(search.body.entry).toHaveLength(3);
    expect((await json(`${lisUrl}/fhir/Patient/pat-missing`)).status).toBe(404);
    const refused = await json<OperationOutcome>(`${lisUrl}/fhir/Patient?no-such-parameter=1`, {
      prefer: 'handling=strict',
    });
    expect(refused.status).toBe(400);
    expect((await json(`${lisUrl}/fhir/metadata`)).status).toBe(200);

    // Written to the LIS's outbox before each answer, and published to the audit queue while it was down.
    const published = await eventually(
      () =>
        lisDb.query<{ n: number; pending: number }>(
          `SELECT count(*)::int AS n, count(*) FILTER (WHERE published_at IS NULL)::int AS pending
             FROM tx_outbox WHERE type = $1`,
          [AUDIT_RECORD_TYPE],
        ),
      ([row]) => row.n === 6 && row.pending === 0,
    );
    expect(published[0]).toEqual({ n: 6, pending: 0 });
    expect(await stored()).toBe(0);

    audit = await startAudit();
    expect(await eventually(stored, (n) => n >= 6)).toBe(6);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await stored()).toBe(6);

    const rows = await auditDb.query<Record<string, unknown>>(
      `SELECT service, actor_id, action, interaction, resource_type, resource_id, patient, outcome, status, reason
         FROM audit_event ORDER BY patient NULLS LAST, interaction, status`,
    );
    expect(rows).toEqual([
      {
        service: 'lis',
        actor_id: 'test-clinician',
        action: 'R',
        interaction: 'read',
        resource_type: 'Patient',
        resource_id: 'pat-a',
        patient: 'pat-a',
        outcome: '0',
        status: 200,
        reason: null,
      },
      {
        service: 'lis',
        actor_id: 'test-clinician',
        action: 'R',
        interaction: 'search-type',
        resource_type: 'Patient',
        resource_id: null,
        patient: 'pat-a',
        outcome: '0',
        status: 200,
        reason: null,
      },
      {
        service: 'lis',
        actor_id: 'test-clinician',
        action: 'R',
        interaction: 'search-type',
        resource_type: 'Patient',
        resource_id: null,
        patient: 'pat-b',
        outcome: '0',
        status: 200,
        reason: null,
      },
      {
        service: 'lis',
        actor_id: 'test-clinician',
        action: 'R',
        interaction: 'search-type',
        resource_type: 'Patient',
        resource_id: null,
        patient: 'pat-c',
        outcome: '0',
        status: 200,
        reason: null,
      },
      {
        service: 'lis',
        actor_id: 'test-clinician',
        action: 'R',
        interaction: 'read',
        resource_type: 'Patient',
        resource_id: 'pat-missing',
        patient: 'pat-missing',
        outcome: '4',
        status: 404,
        reason: expect.any(String),
      },
      {
        service: 'lis',
        actor_id: 'test-clinician',
        action: 'R',
        interaction: 'search-type',
        resource_type: 'Patient',
        resource_id: null,
        patient: null,
        outcome: '4',
        status: 400,
        reason: expect.any(String),
      },
    ]);
  });

  describe('once records have arrived', () => {
    const sentinel = (overrides: Partial<AuditRecord> = {}): AuditRecord => ({
      id: randomUUID(),
      recorded: new Date().toISOString(),
      service: 'pharmacy',
      actor: { kind: 'user', id: 'ph-1', name: 'Pat Pharmacist', role: 'pharmacist' },
      action: 'C',
      interaction: 'create',
      resourceType: 'MedicationDispense',
      resourceId: 'md-1',
      patient: 'pat-b',
      outcome: '0',
      status: 201,
      reason: '=HYPERLINK("x"), with "quotes"',
      sourceAddress: '10.1.2.3',
      breakTheGlass: 'unconscious in the ED',
      ...overrides,
    });
    const publish = (payload: unknown, id: string): Promise<void> =>
      audit!.get<MessagePublisher>(MESSAGE_PUBLISHER).publish([
        {
          id,
          exchange: AUDIT_EXCHANGE,
          routingKey: auditRoutingKey('pharmacy'),
          type: AUDIT_RECORD_TYPE,
          source: 'pharmacy',
          gtid: randomUUID(),
          payload,
        },
      ]);
    const hasRecord = async (id: string): Promise<boolean> =>
      (await auditDb.query('SELECT 1 FROM audit_event WHERE id = $1', [id])).length === 1;

    it('stores a redelivered record once and never a record that fails the contract', async () => {
      const [first] = await auditDb.query<{ id: string }>(
        'SELECT id::text FROM audit_event ORDER BY seq LIMIT 1',
      );
      const [original] = await lisDb.query<{ payload: unknown }>(
        'SELECT payload FROM tx_outbox WHERE id = $1',
        [first.id],
      );
      const before = await stored();
      await publish(original.payload, first.id);
      const invalidId = randomUUID();
      await publish({ ...sentinel({ id: invalidId }), action: 'X', status: 'two hundred' }, invalidId);
      const last = sentinel();
      await publish(last, last.id);
      await eventually(
        () => hasRecord(last.id),
        (found) => found,
      );
      expect(await stored()).toBe(before + 1);
      expect(await hasRecord(invalidId)).toBe(false);
    });

    it('searches the trail as FHIR AuditEvents: by patient, action, outcome, date, entity type; sorted and paged', async () => {
      const byPatient = await json<Bundle<AuditEvent>>(`${auditUrl}/fhir/AuditEvent?patient=Patient/pat-a`);
      expect(byPatient.status).toBe(200);
      expect(byPatient.headers.get('content-type')).toContain('application/fhir+json');
      expect(byPatient.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 2 });
      for (const entry of byPatient.body.entry ?? [])
        expect(entry.resource?.entity?.[0]?.what?.reference).toBe('Patient/pat-a');
      // The auditor's own read is audited by the audit service, naming the patient whose trail it showed.
      const own = await auditDb.query<{ payload: AuditRecord }>(
        `SELECT payload FROM tx_outbox WHERE type = $1 AND payload->>'resourceType' = 'AuditEvent'`,
        [AUDIT_RECORD_TYPE],
      );
      expect(own.map((row) => row.payload)).toEqual([
        expect.objectContaining({
          service: 'audit',
          interaction: 'search-type',
          patient: 'pat-a',
          status: 200,
        }),
      ]);

      const refusedOnes = await json<Bundle<AuditEvent>>(
        `${auditUrl}/fhir/AuditEvent?outcome=4&action=R&_sort=-date`,
      );
      expect(refusedOnes.body.total).toBe(2);
      const statuses = refusedOnes.body.entry?.map((e) => e.resource?.outcomeDesc?.slice(0, 8));
      expect(statuses).toEqual(['HTTP 400', 'HTTP 404']);

      const dispense = await json<Bundle<AuditEvent>>(
        `${auditUrl}/fhir/AuditEvent?entity-type=MedicationDispense&agent=ph-1`,
      );
      expect(dispense.body.total).toBe(1);
      const event = dispense.body.entry![0].resource!;
      expect(event.agent[0]).toMatchObject({
        requestor: true,
        who: { identifier: { value: 'ph-1' }, display: 'Pat Pharmacist' },
        role: [{ text: 'pharmacist' }],
        network: { address: '10.1.2.3', type: '2' },
        purposeOfUse: [{ coding: [{ code: 'ETREAT' }] }],
      });
      expect(event.subtype?.map((c) => c.code)).toEqual(['create', '110113', '110127']);
      expect(event.type.code).toBe('rest');
      const review = await json<Bundle<AuditEvent>>(`${auditUrl}/fhir/AuditEvent?purpose=ETREAT`);
      expect(review.body.entry?.map((e) => e.resource?.id)).toEqual([event.id]);
      expect((await json<AuditEvent>(`${auditUrl}/fhir/AuditEvent/${event.id}`)).body.id).toBe(event.id);
      expect((await json(`${auditUrl}/fhir/AuditEvent/${randomUUID()}`)).status).toBe(404);

      const today = new Date().toISOString().slice(0, 10);
      const inRange = await json<Bundle>(`${auditUrl}/fhir/AuditEvent?date=ge${today}&date=le${today}`);
      expect(inRange.body.total).toBe(7);
      expect((await json<Bundle>(`${auditUrl}/fhir/AuditEvent?date=lt${today}`)).body.total).toBe(0);

      const pages: string[] = [];
      let next: string | undefined = `${auditUrl}/fhir/AuditEvent?_sort=patient,-date&_count=3`;
      while (next !== undefined) {
        const page: { body: Bundle<AuditEvent> } = await json<Bundle<AuditEvent>>(next);
        expect(page.body.entry!.length).toBeLessThanOrEqual(3);
        pages.push(...(page.body.entry ?? []).map((e) => e.resource!.id!));
        next = page.body.link?.find((l) => l.relation === 'next')?.url;
      }
      expect(pages).toHaveLength(7);
      expect(new Set(pages).size).toBe(7);
      const second = await json<Bundle>(`${auditUrl}/fhir/AuditEvent?_count=3&_offset=3`);
      expect(second.body.link?.map((l) => l.relation)).toEqual(
        expect.arrayContaining(['self', 'previous', 'next']),
      );

      for (const bad of [
        'foo=1',
        'date=yesterday',
        '_sort=colour',
        '_count=0',
        'action=X',
        'outcome=1',
        'purpose=TREAT',
      ]) {
        const answer = await json<OperationOutcome>(`${auditUrl}/fhir/AuditEvent?${bad}`);
        expect([bad, answer.status]).toEqual([bad, 400]);
        expect(answer.body.resourceType).toBe('OperationOutcome');
      }
      const capability = await json<{
        rest: { resource: { type: string; searchParam: { name: string }[] }[] }[];
      }>(`${auditUrl}/fhir/metadata`);
      expect(capability.body.rest[0].resource[0].searchParam.map((p) => p.name)).toEqual(
        expect.arrayContaining(['patient', 'agent', 'date', 'action', 'outcome', 'entity-type', '_sort']),
      );
    });

    it('exports a date range as CSV with a header row, quoting and formula neutralising', async () => {
      const from = new Date(Date.now() - 3_600_000).toISOString();
      const to = new Date(Date.now() + 3_600_000).toISOString();
      const response = await fetch(`${auditUrl}/api/audit/export?from=${from}&to=${to}`, {
        headers: { authorization: testAuthorization('auditor') },
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/csv');
      expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="audit-.*\.csv"$/);
      const lines = (await response.text()).split('\r\n').filter((l) => l !== '');
      expect(lines[0].split(',').slice(0, 4)).toEqual(['seq', 'id', 'recorded', 'service']);
      expect(lines).toHaveLength(8);
      expect(lines.find((l) => l.includes('pharmacy'))).toContain(`"'=HYPERLINK(""x""), with ""quotes"""`);
      const empty = await (
        await fetch(`${auditUrl}/api/audit/export?from=2000-01-01&to=2000-01-02`, {
          headers: { authorization: testAuthorization('auditor') },
        })
      ).text();
      expect(empty.split('\r\n').filter((l) => l !== '')).toHaveLength(1);
      const bad = await fetch(`${auditUrl}/api/audit/export?from=${to}&to=${from}`, {
        headers: { authorization: testAuthorization('auditor') },
      });
      expect(bad.status).toBe(400);
      expect(bad.headers.get('content-type')).toContain('application/problem+json');
    });

    it('refuses UPDATE and DELETE; verification names the exact row an attacker edited, then deleted (the newest too)', async () => {
      expect(await json(`${auditUrl}/api/audit/verify`)).toMatchObject({
        status: 200,
        body: { status: 'intact', checked: 7, lastSeq: 7 },
      });
      await expect(auditDb.query(`UPDATE audit_event SET patient = 'x' WHERE seq = 3`)).rejects.toThrow(
        /append-only/,
      );
      await expect(auditDb.query(`DELETE FROM audit_event WHERE seq = 3`)).rejects.toThrow(/append-only/);

      await auditDb.query('ALTER TABLE audit_event DISABLE TRIGGER USER');
      const [third] = await auditDb.query<{ id: string; patient: string | null }>(
        'SELECT id::text, patient FROM audit_event WHERE seq = 3',
      );
      await auditDb.query(`UPDATE audit_event SET patient = 'someone-else' WHERE seq = 3`);
      expect((await json(`${auditUrl}/api/audit/verify`)).body).toEqual({
        status: 'broken',
        checked: 3,
        lastSeq: 3,
        broken: { kind: 'edited', seq: 3, id: third.id },
      });
      const operation = await json<{ resourceType: string; parameter: { name: string }[] }>(
        `${auditUrl}/fhir/AuditEvent/$verify`,
      );
      expect(operation.body.resourceType).toBe('Parameters');
      expect(operation.body.parameter).toEqual(
        expect.arrayContaining([
          { name: 'intact', valueBoolean: false },
          { name: 'brokenKind', valueCode: 'edited' },
          { name: 'brokenSeq', valueInteger: 3 },
          { name: 'brokenId', valueId: third.id },
        ]),
      );
      await auditDb.query(`UPDATE audit_event SET patient = $1 WHERE seq = 3`, [third.patient]);
      expect((await json<{ status: string }>(`${auditUrl}/api/audit/verify`)).body.status).toBe('intact');

      // The newest row deleted leaves the chain whole: the inbox still names the record it received.
      const [seventh] = await auditDb.query<{ id: string }>('SELECT id::text FROM audit_event WHERE seq = 7');
      await auditDb.query('DELETE FROM audit_event WHERE seq = 7');
      expect((await json(`${auditUrl}/api/audit/verify`)).body).toEqual({
        status: 'broken',
        checked: 6,
        lastSeq: 6,
        broken: { kind: 'missing-record', seq: 7, id: seventh.id, missingSeq: 7, missingRecords: 1 },
      });

      const [sixth] = await auditDb.query<{ id: string }>('SELECT id::text FROM audit_event WHERE seq = 6');
      await auditDb.query('DELETE FROM audit_event WHERE seq = 5');
      expect((await json(`${auditUrl}/api/audit/verify`)).body).toEqual({
        status: 'broken',
        checked: 5,
        lastSeq: 6,
        broken: { kind: 'missing-before', seq: 6, id: sixth.id, missingSeq: 5 },
      });
      await auditDb.query('ALTER TABLE audit_event ENABLE TRIGGER USER');
    });
  });
});
