import { randomBytes, randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { Bundle, ServiceRequest } from '@medplum/fhirtypes';
import {
  FhirExceptionFilter,
  FhirResourceStore,
  ORDER_CATEGORY,
  ORDER_RESULT_TYPE,
  ORDER_RESULTS_EXCHANGE,
  orderResultAggregate,
  SearchParameterRegistry,
  type OrderResultPayload,
} from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { eventually } from '@hospital/platform/testing/waiting';
import { testAuthorization } from '@hospital/platform/testing/access-token';
import { RabbitMqConnection, RabbitMqPublisher } from '@hospital/transactions';
import { emrConfig } from '../src/config';
import { migrations } from '../src/database/migrations';
import { EmrModule } from '../src/emr.module';
import { EMR_RESOURCES } from '../src/fhir-resources';
import { ORDER_RESULTS_QUEUE } from '../src/results/order-results.handler';

/**
 * The EMR's side of the order-results contract, over a real RabbitMQ and PostgreSQL: the laboratory's
 * report and observations and the archive's ImagingStudy arrive as events, are applied once however often
 * they are delivered, are found by FHIR search on the EMR's base, and move their order to completed.
 * Results that can never apply (an order the EMR does not hold, another patient, a malformed payload)
 * are dead-lettered and change nothing in the chart.
 */
jest.setTimeout(60_000);

const port = 4710;
const base = `http://127.0.0.1:${port}`;
const namespace = `er${randomBytes(4).toString('hex')}`;
const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

function order(id: string, patient: string, category: keyof typeof ORDER_CATEGORY): ServiceRequest {
  return {
    resourceType: 'ServiceRequest',
    id,
    status: 'active',
    intent: 'order',
    category: [{ coding: [ORDER_CATEGORY[category]] }],
    code: { coding: [{ system: 'http://loinc.org', code: '58410-2', display: 'CBC panel' }] },
    subject: { reference: `Patient/${patient}` },
  };
}

function labResult(orderId: string, patient: string, status: 'final' | 'preliminary'): OrderResultPayload {
  const about = {
    subject: { reference: `Patient/${patient}` },
    basedOn: [{ reference: `ServiceRequest/${orderId}` }],
  };
  const hemoglobin = {
    resourceType: 'Observation' as const,
    id: `${orderId}-obs-1`,
    status,
    code: { coding: [{ system: 'http://loinc.org', code: '718-7', display: 'Hemoglobin' }] },
    valueQuantity: { value: 13.9, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
    ...about,
  };
  const platelets = {
    ...hemoglobin,
    id: `${orderId}-obs-2`,
    code: { coding: [{ system: 'http://loinc.org', code: '777-3', display: 'Platelets' }] },
    valueQuantity: { value: 251, unit: '10*3/uL', system: 'http://unitsofmeasure.org', code: '10*3/uL' },
  };
  return {
    department: 'lis',
    serviceRequestId: orderId,
    patientId: patient,
    orderStatus: status === 'final' ? 'completed' : 'active',
    resources: [
      hemoglobin,
      platelets,
      {
        resourceType: 'DiagnosticReport',
        id: `${orderId}-report`,
        status,
        code: { coding: [{ system: 'http://loinc.org', code: '58410-2', display: 'CBC panel' }] },
        result: [
          { reference: `Observation/${orderId}-obs-1` },
          { reference: `Observation/${orderId}-obs-2` },
        ],
        ...about,
      },
    ],
  };
}

function imagingResult(orderId: string, patient: string): OrderResultPayload {
  return {
    department: 'pacs',
    serviceRequestId: orderId,
    patientId: patient,
    orderStatus: 'completed',
    resources: [
      {
        resourceType: 'ImagingStudy',
        id: `${orderId}-study`,
        status: 'available',
        identifier: [{ system: 'urn:dicom:uid', value: 'urn:oid:1.2.826.0.1.3680043.8.498.1' }],
        subject: { reference: `Patient/${patient}` },
        basedOn: [{ reference: `ServiceRequest/${orderId}` }],
        numberOfSeries: 1,
        numberOfInstances: 2,
        endpoint: [{ reference: 'Endpoint/archive-dicomweb' }],
      },
    ],
    endpoints: [
      {
        resourceType: 'Endpoint',
        id: 'archive-dicomweb',
        status: 'active',
        connectionType: {
          system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type',
          code: 'dicom-wado-rs',
        },
        payloadType: [{ text: 'DICOM' }],
        address: 'http://127.0.0.1:8042/dicom-web',
      },
    ],
  };
}

describe('EMR order results through its inbox (real RabbitMQ and PostgreSQL)', () => {
  let app: INestApplication;
  let db: Database;
  let drop: () => Promise<void>;
  let connection: RabbitMqConnection;
  let publisher: RabbitMqPublisher;
  const store = new FhirResourceStore(new SearchParameterRegistry(EMR_RESOURCES));

  beforeAll(async () => {
    const created = await createTestDatabase('emr', migrations);
    drop = created.drop;
    db = new Database(created.settings, 'emr-order-results-spec');
    const config = emrConfig({
      ...process.env,
      PGDATABASE: created.settings.database,
      PORT: String(port),
      LOG_LEVEL: 'error',
      MESSAGING_NAMESPACE: namespace,
    });
    app = await createServiceApp(EmrModule.forRoot(config), config, { filters: [new FhirExceptionFilter()] });
    await app.listen(port, '127.0.0.1');
    connection = new RabbitMqConnection(amqpUrl, 'emr-order-results-spec', namespace);
    publisher = new RabbitMqPublisher(connection);
    for (const patient of ['pat-r1', 'pat-r2'])
      await store.create(db, { resourceType: 'Patient', name: [{ family: 'Ngata' }] }, { id: patient });
    await store.upsertCopies(db, [
      order('lab-1', 'pat-r1', 'laboratory'),
      order('lab-2', 'pat-r1', 'laboratory'),
      order('img-1', 'pat-r2', 'imaging'),
      order('lab-3', 'pat-r2', 'laboratory'),
    ]);
  });

  afterAll(async () => {
    await app?.close();
    await connection
      ?.withChannel(async (channel) => {
        await channel.deleteQueue(`${namespace}.${ORDER_RESULTS_QUEUE}`);
        await channel.deleteQueue(`${namespace}.${ORDER_RESULTS_QUEUE}.dead-letter`);
      })
      .catch(() => undefined);
    await connection?.close();
    await db?.close();
    await drop?.();
  });

  /** Publishes a result event as the department's relay does (`payload` may be malformed on purpose). */
  const publish = (id: string, payload: OrderResultPayload | Partial<OrderResultPayload>) =>
    publisher.publish([
      {
        id,
        exchange: ORDER_RESULTS_EXCHANGE,
        routingKey: payload.department ?? 'lis',
        type: ORDER_RESULT_TYPE,
        source: payload.department ?? 'lis',
        gtid: randomUUID(),
        aggregateId: orderResultAggregate(payload.serviceRequestId ?? 'none'),
        payload,
      },
    ]);
  const search = async (query: string): Promise<Bundle> => {
    const response = await fetch(`${base}/fhir/${query}`, {
      headers: { authorization: testAuthorization('clinician') },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as Bundle;
  };
  const ids = (bundle: Bundle) => (bundle.entry ?? []).map((e) => e.resource?.id).sort();
  const orderStatus = async (id: string) =>
    (await store.read<ServiceRequest>(db, 'ServiceRequest', id)).status;
  const inbox = async (id: string) =>
    (
      await db.query<{ outcome: string; reason: string | null }>(
        'SELECT outcome, reason FROM tx_inbox WHERE consumer = $1 AND message_id = $2',
        [ORDER_RESULTS_QUEUE, id],
      )
    )[0];
  const versions = async () =>
    (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource_history'))[0].n;

  it('files a laboratory report once however often it is delivered, and completes the order', async () => {
    const first = randomUUID();
    await publish(first, labResult('lab-1', 'pat-r1', 'final'));
    await eventually(
      () => inbox(first),
      (row) => row !== undefined,
    );
    const filed = await versions();
    // The same event redelivered, and the department publishing it again under a new id.
    await publish(first, labResult('lab-1', 'pat-r1', 'final'));
    const again = randomUUID();
    await publish(again, labResult('lab-1', 'pat-r1', 'final'));
    expect(
      await eventually(
        () => inbox(again),
        (row) => row !== undefined,
      ),
    ).toMatchObject({ outcome: 'applied' });
    expect(await versions()).toBe(filed);

    expect(ids(await search('DiagnosticReport?based-on=ServiceRequest/lab-1'))).toEqual(['lab-1-report']);
    expect(ids(await search('Observation?patient=Patient/pat-r1&code=http://loinc.org|718-7'))).toEqual([
      'lab-1-obs-1',
    ]);
    expect(await orderStatus('lab-1')).toBe('completed');
  });

  it('keeps a preliminary result active and a corrected final one as a new version', async () => {
    const preliminary = randomUUID();
    await publish(preliminary, labResult('lab-2', 'pat-r1', 'preliminary'));
    await eventually(
      () => inbox(preliminary),
      (row) => row !== undefined,
    );
    expect(await orderStatus('lab-2')).toBe('active');
    const final = randomUUID();
    await publish(final, labResult('lab-2', 'pat-r1', 'final'));
    await eventually(
      () => inbox(final),
      (row) => row !== undefined,
    );
    expect(await orderStatus('lab-2')).toBe('completed');
    const report = (await search('DiagnosticReport?_id=lab-2-report')).entry?.[0]?.resource;
    expect(report).toMatchObject({ status: 'final', meta: { versionId: '2' } });
  });

  it('files the archive ImagingStudy and completes the imaging order', async () => {
    const id = randomUUID();
    await publish(id, imagingResult('img-1', 'pat-r2'));
    await eventually(
      () => inbox(id),
      (row) => row !== undefined,
    );
    expect(ids(await search('ImagingStudy?patient=Patient/pat-r2'))).toEqual(['img-1-study']);
    expect(ids(await search('ImagingStudy?basedon=ServiceRequest/img-1'))).toEqual(['img-1-study']);
    expect(ids(await search('Endpoint?_id=archive-dicomweb'))).toEqual(['archive-dicomweb']);
    expect(await orderStatus('img-1')).toBe('completed');
  });

  it('dead-letters results that can never apply and changes nothing in the chart', async () => {
    const before = await versions();
    const unknownOrder = randomUUID();
    await publish(unknownOrder, labResult('lab-unknown', 'pat-r1', 'final'));
    const otherPatient = randomUUID();
    await publish(otherPatient, labResult('lab-3', 'pat-r1', 'final'));
    const malformed = randomUUID();
    await publish(malformed, {
      department: 'lis',
      serviceRequestId: 'lab-3',
      patientId: 'pat-r2',
      resources: [],
    });
    for (const [id, reason] of [
      [unknownOrder, /ServiceRequest\/lab-unknown, which the EMR does not hold/],
      [otherPatient, /about another patient/],
      [malformed, /order-result payload/],
    ] as const) {
      const row = await eventually(
        () => inbox(id),
        (r) => r !== undefined,
      );
      expect(row).toMatchObject({ outcome: 'dead-lettered' });
      expect(row.reason).toMatch(reason);
    }
    expect(await versions()).toBe(before);
    expect(await orderStatus('lab-3')).toBe('active');
  });
});
