import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Bundle, MedicationDispense, OperationOutcome } from '@medplum/fhirtypes';
import type { INestApplication } from '@nestjs/common';
import { FhirExceptionFilter } from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { MAX_UNITS, PharmacyEvent, PHARMACY_EXCHANGE } from '../src/contracts/pharmacy-events';
import { dispensingConfig } from '../src/config';
import { migrations } from '../src/dispensing/database/migrations';
import { seedFormulary } from '../src/dispensing/database/seeds/formulary';
import { DispensingModule } from '../src/dispensing/dispensing.module';
import { RXNORM_SYSTEM } from '../src/dispensing/fhir-resources';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * The dispensing part over real HTTP on a fresh database: a dispense is stored with its history and search
 * index and leaves one `MedicationDispensed` event in the outbox, in one local transaction; bad input gets a
 * 4xx OperationOutcome and writes nothing anywhere. The relay is off, so the outbox rows stay to be checked.
 */
jest.setTimeout(30_000);

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function fhir(
  url: string,
  init: { method?: string; body?: unknown; raw?: string } = {},
): Promise<Reply> {
  const hasBody = init.body !== undefined || init.raw !== undefined;
  const response = await fetch(url, {
    method: init.method ?? (hasBody ? 'POST' : 'GET'),
    headers: {
      authorization: testAuthorizationFor(url),
      ...(hasBody ? { 'content-type': 'application/fhir+json' } : {}),
    },
    body: init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

const amlodipine = {
  coding: [{ system: RXNORM_SYSTEM, code: '197361', display: 'amlodipine 5 MG Oral Tablet' }],
};

function dispense(overrides: Partial<MedicationDispense> = {}): MedicationDispense {
  return {
    resourceType: 'MedicationDispense',
    status: 'completed',
    medicationCodeableConcept: amlodipine,
    subject: { reference: 'Patient/pat-0001' },
    quantity: {
      value: 30,
      unit: 'tablet',
      system: 'http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm',
      code: 'TAB',
    },
    whenHandedOver: '2025-01-15T10:30:00Z',
    ...overrides,
  };
}

describe('pharmacy dispensing over FHIR', () => {
  let app: INestApplication;
  let db: Database;
  let base: string;
  let drop: () => Promise<void>;

  /** Row counts of every table a dispense writes (the audit trail's records, which every access writes, aside). */
  const snapshot = async () =>
    (
      await db.query<Record<string, number>>(
        `SELECT (SELECT count(*)::int FROM fhir_resource) AS resources,
                (SELECT count(*)::int FROM fhir_resource_history) AS history,
                (SELECT count(*)::int FROM fhir_search_index) AS index_rows,
                (SELECT count(*)::int FROM tx_outbox WHERE type <> 'audit.record') AS outbox,
                (SELECT count(*)::int FROM tx_outbox_aggregate WHERE aggregate_id <> 'audit-trail') AS aggregates`,
      )
    )[0];

  const outboxOf = (dispenseIds: string[]) =>
    db.query<{
      exchange: string;
      routing_key: string;
      type: string;
      aggregate_id: string;
      payload: Record<string, unknown>;
    }>(
      `SELECT exchange, routing_key, type, aggregate_id, payload FROM tx_outbox
        WHERE payload->>'dispenseId' = ANY($1) ORDER BY position`,
      [dispenseIds],
    );

  beforeAll(async () => {
    const created = await createTestDatabase('pharmacy', migrations);
    drop = created.drop;
    db = new Database(created.settings, 'pharmacy-test');
    await seedFormulary(db);
    const config = dispensingConfig({
      ...process.env,
      PGDATABASE: created.settings.database,
      LOG_LEVEL: 'error',
      OUTBOX_RELAY: 'false',
      MESSAGING_NAMESPACE: `test-${randomBytes(4).toString('hex')}`,
    });
    app = await createServiceApp(DispensingModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}/fhir`;
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('serves the seeded formulary', async () => {
    const found = await fhir(`${base}/Medication?code=${RXNORM_SYSTEM}|197361`);
    expect(found.status).toBe(200);
    expect(found.body.total).toBe(1);
    expect((await fhir(`${base}/Medication/rxnorm-197361`)).status).toBe(200);
  });

  it('stores a dispense and appends its MedicationDispensed event to the outbox', async () => {
    const before = await snapshot();
    const created = await fhir(`${base}/MedicationDispense`, { body: dispense() });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toMatch(/\/fhir\/MedicationDispense\/[^/]+\/_history\/1$/);
    const stored = created.body as unknown as MedicationDispense & { id: string };
    expect(stored.location?.reference).toBe('Location/main-pharmacy');

    const events = await outboxOf([stored.id]);
    expect(events).toEqual([
      {
        exchange: PHARMACY_EXCHANGE,
        routing_key: PharmacyEvent.MedicationDispensed.routingKey,
        type: PharmacyEvent.MedicationDispensed.type,
        aggregate_id: '197361@main-pharmacy',
        payload: {
          dispenseId: stored.id,
          medicationCode: '197361',
          locationId: 'main-pharmacy',
          quantity: 30,
          dispensedAt: '2025-01-15T10:30:00.000Z',
        },
      },
    ]);
    const after = await snapshot();
    expect(after.resources).toBe(before.resources + 1);
    expect(after.history).toBe(before.history + 1);
    expect(after.outbox).toBe(before.outbox + 1);
    expect(after.index_rows).toBeGreaterThan(before.index_rows);

    const read = await fhir(`${base}/MedicationDispense/${stored.id}`);
    expect(read.status).toBe(200);
    const search = await fhir(
      `${base}/MedicationDispense?patient=Patient/pat-0001&code=${RXNORM_SYSTEM}|197361`,
    );
    expect(search.body.total).toBeGreaterThanOrEqual(1);
  });

  it('audits the dispense, its read and a refused one in the outbox, each naming the patient', async () => {
    const created = await fhir(`${base}/MedicationDispense`, { body: dispense() });
    const id = (created.body as { id: string }).id;
    await fhir(`${base}/MedicationDispense/${id}`);
    const refused = await fhir(`${base}/MedicationDispense`, {
      body: dispense({ subject: { reference: 'Patient/pat-0002' }, quantity: { value: -1 } }),
    });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    const audited = await db.query<{ payload: Record<string, unknown> }>(
      `SELECT payload FROM tx_outbox WHERE type = 'audit.record'
          AND (payload->>'resourceId' = $1 OR payload->>'patient' = 'pat-0002') ORDER BY position`,
      [id],
    );
    expect(audited.map((row) => row.payload)).toEqual([
      expect.objectContaining({
        service: 'pharmacy',
        action: 'C',
        interaction: 'create',
        patient: 'pat-0001',
        outcome: '0',
      }),
      expect.objectContaining({
        action: 'R',
        interaction: 'read',
        resourceId: id,
        patient: 'pat-0001',
        outcome: '0',
      }),
      expect.objectContaining({ action: 'C', interaction: 'create', patient: 'pat-0002', outcome: '4' }),
    ]);
  });

  it('takes the drug from a formulary reference and the location from MedicationDispense.location', async () => {
    const created = await fhir(`${base}/MedicationDispense`, {
      body: dispense({
        medicationCodeableConcept: undefined,
        medicationReference: { reference: 'Medication/rxnorm-314076' },
        location: { reference: 'Location/ward-3a' },
        quantity: { value: 2 },
      }),
    });
    expect(created.status).toBe(201);
    const [event] = await outboxOf([created.body.id as string]);
    expect(event.aggregate_id).toBe('314076@ward-3a');
    expect(event.payload).toMatchObject({ medicationCode: '314076', locationId: 'ward-3a', quantity: 2 });
  });

  it('records a transaction Bundle of a prescription and two dispenses in one local transaction', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        ...[1, 2].map((n) => ({
          fullUrl: `urn:uuid:00000000-0000-4000-8000-00000000000${n}`,
          resource: dispense({
            quantity: { value: n },
            authorizingPrescription: [{ reference: 'urn:uuid:00000000-0000-4000-8000-0000000000ff' }],
          }),
          request: { method: 'POST' as const, url: 'MedicationDispense' },
        })),
        {
          fullUrl: 'urn:uuid:00000000-0000-4000-8000-0000000000ff',
          resource: {
            resourceType: 'MedicationRequest',
            status: 'active',
            intent: 'order',
            medicationCodeableConcept: amlodipine,
            subject: { reference: 'Patient/pat-0001' },
          },
          request: { method: 'POST', url: 'MedicationRequest' },
        },
      ],
    };
    const before = await snapshot();
    const response = await fhir(`${base}`, { body: bundle });
    expect(response.status).toBe(200);
    const entries = (response.body as unknown as Bundle).entry ?? [];
    expect(entries.map((e) => e.response?.status)).toEqual(['201 Created', '201 Created', '201 Created']);
    const [first, second, request] = entries.map((e) => e.resource as { id: string; resourceType: string });
    expect(request.resourceType).toBe('MedicationRequest');
    const firstDispense = first as unknown as MedicationDispense;
    expect(firstDispense.authorizingPrescription?.[0].reference).toBe(`MedicationRequest/${request.id}`);
    expect((await outboxOf([first.id, second.id])).map((e) => e.payload.quantity)).toEqual([1, 2]);
    expect((await snapshot()).outbox).toBe(before.outbox + 2);
  });

  describe('bad input gets a 4xx OperationOutcome and writes nothing', () => {
    const cases: [string, string, { body?: unknown; raw?: string }, number][] = [
      [
        'a drug that is not in the formulary',
        '/MedicationDispense',
        {
          body: dispense({
            medicationCodeableConcept: { coding: [{ system: RXNORM_SYSTEM, code: '999999999' }] },
          }),
        },
        422,
      ],
      [
        'a reference to a Medication that is not in the formulary',
        '/MedicationDispense',
        {
          body: dispense({
            medicationCodeableConcept: undefined,
            medicationReference: { reference: 'Medication/nope' },
          }),
        },
        422,
      ],
      ['a negative quantity', '/MedicationDispense', { body: dispense({ quantity: { value: -30 } }) }, 400],
      ['a zero quantity', '/MedicationDispense', { body: dispense({ quantity: { value: 0 } }) }, 400],
      [
        'an absurd quantity',
        '/MedicationDispense',
        { body: dispense({ quantity: { value: MAX_UNITS * 1000 } }) },
        400,
      ],
      ['a fractional quantity', '/MedicationDispense', { body: dispense({ quantity: { value: 2.5 } }) }, 400],
      ['no quantity', '/MedicationDispense', { body: dispense({ quantity: undefined }) }, 400],
      ['a dispense not completed', '/MedicationDispense', { body: dispense({ status: 'preparation' }) }, 400],
      [
        'a location that is not a Location',
        '/MedicationDispense',
        { body: dispense({ location: { reference: 'Patient/x' } }) },
        400,
      ],
      [
        'a prescription that does not exist',
        '/MedicationDispense',
        { body: dispense({ authorizingPrescription: [{ reference: 'MedicationRequest/missing' }] }) },
        422,
      ],
      ['malformed JSON', '/MedicationDispense', { raw: '{"resourceType": "MedicationDispense", ' }, 400],
      [
        'a resource that breaks FHIR R4 rules',
        '/MedicationDispense',
        { body: { ...dispense(), status: 'handed-over' } },
        400,
      ],
      [
        'a Medication (the formulary is read-only)',
        '/Medication',
        { body: { resourceType: 'Medication' } },
        405,
      ],
      [
        'a transaction Bundle with one bad dispense among good ones',
        '',
        {
          body: {
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [dispense(), dispense({ quantity: { value: -1 } })].map((resource) => ({
              resource,
              request: { method: 'POST', url: 'MedicationDispense' },
            })),
          },
        },
        400,
      ],
    ];

    it.each(cases)('%s', async (_name, path, request, expected) => {
      const before = await snapshot();
      const response = await fhir(`${base}${path}`, request);
      expect(response.status).toBe(expected);
      expect(response.body.resourceType).toBe('OperationOutcome');
      expect((response.body as unknown as OperationOutcome).issue.length).toBeGreaterThan(0);
      expect(await snapshot()).toEqual(before);
    });

    it('names the offending element of a Bundle entry', async () => {
      const response = await fhir(base, {
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              resource: dispense({ quantity: { value: 0 } }),
              request: { method: 'POST', url: 'MedicationDispense' },
            },
          ],
        },
      });
      expect((response.body as unknown as OperationOutcome).issue[0].expression).toEqual([
        'Bundle.entry[0].resource.quantity.value',
      ]);
    });
  });
});
