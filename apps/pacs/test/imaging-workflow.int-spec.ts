import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import {
  FhirExceptionFilter,
  ORDER_CATEGORY,
  ORDER_RESULTS_EXCHANGE,
  ORDER_RESULT_TYPE,
  orderResultAggregate,
} from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { testAuthorization } from '@hospital/platform/testing/access-token';
import { testServiceAuthorization } from '@hospital/platform/testing/service-auth';
import { newGtid, RabbitMqConnection } from '@hospital/transactions';
import { ModalitySimulator } from '../../../scripts/lib/modality-simulator';
import { pacsConfig } from '../src/config';
import { migrations } from '../src/database/migrations';
import { accessionNumberOf, imagingStudyIdOf, studyInstanceUidOf } from '../src/dicom/dicom-identifiers';
import { PacsModule } from '../src/pacs.module';
import { startTestOrthanc, type TestOrthanc } from './support/orthanc';

/**
 * The PACS with a real DICOM archive: a private Orthanc (DICOMweb and worklist plugins), the PACS as a Nest
 * app over HTTP with real PostgreSQL and RabbitMQ, and a modality that queries the worklist by C-FIND and
 * stores by STOW-RS. An imaging order committed by the PACS's 2PC branch becomes a worklist entry; the study
 * the modality stores becomes an ImagingStudy with its Endpoint, the order completed, and exactly one
 * order-result event — also when Orthanc restarts in between and when the study is reported again; a study
 * for an unknown accession number changes nothing.
 */
jest.setTimeout(90_000);

const PORT = 4650;
const ORTHANC_HTTP = 4680;
const ORTHANC_DICOM = 4690;

describe('pacs imaging workflow with Orthanc', () => {
  let orthanc: TestOrthanc;
  let app: INestApplication;
  let db: Database;
  let drop: () => Promise<void>;
  let connection: RabbitMqConnection;
  let listener: ChannelWrapper;
  let modality: ModalitySimulator;
  const results: { type: string; payload: { serviceRequestId: string; resources: { id: string }[] } }[] = [];
  const base = `http://127.0.0.1:${PORT}`;
  const namespace = `pacs-dicom-${randomBytes(4).toString('hex')}`;
  const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  let database: string;

  /** The configuration of a PACS replica on `port`: the spec's database, namespace and archive. */
  const replicaConfig = (port: number) =>
    pacsConfig({
      ...process.env,
      PGDATABASE: database,
      PORT: String(port),
      LOG_LEVEL: 'error',
      MESSAGING_NAMESPACE: namespace,
      OUTBOX_POLL_MS: '100',
      ORTHANC_URL: orthanc.url,
      ORTHANC_WORKLIST_DIR: orthanc.worklistDir,
      ORTHANC_POLL_MS: '50',
      ORTHANC_MAX_BACKOFF_MS: '500',
      SCHEDULED_STATION_AE_TITLE: 'CT1',
    });

  beforeAll(async () => {
    orthanc = await startTestOrthanc(ORTHANC_HTTP, ORTHANC_DICOM);
    const created = await createTestDatabase('pacs', migrations);
    drop = created.drop;
    db = new Database(created.settings, 'pacs-imaging-test');
    // The EMR's side of the results: a queue of the spec's own on the namespaced results exchange.
    connection = new RabbitMqConnection(amqpUrl, 'pacs-imaging-test', namespace);
    listener = connection.manager.createChannel({
      setup: async (channel: ConfirmChannel) => {
        const queue = connection.name('test.order-results');
        await channel.assertExchange(connection.name(ORDER_RESULTS_EXCHANGE), 'topic', { durable: true });
        await channel.assertQueue(queue, { durable: false, autoDelete: true });
        await channel.bindQueue(queue, connection.name(ORDER_RESULTS_EXCHANGE), 'pacs');
        await channel.consume(queue, (message: ConsumeMessage | null) => {
          if (message === null) return;
          const body = JSON.parse(message.content.toString()) as (typeof results)[number];
          results.push({ type: message.properties.type as string, payload: body.payload ?? body });
          channel.ack(message);
        });
      },
    });
    await listener.waitForConnect();
    database = created.settings.database;
    const config = replicaConfig(PORT);
    app = await createServiceApp(PacsModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await app.listen(PORT, '127.0.0.1');
    modality = new ModalitySimulator({
      orthancUrl: orthanc.url,
      dicomPort: ORTHANC_DICOM,
      calledAeTitle: orthanc.aeTitle,
      aeTitle: 'CT1',
    });
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    await listener?.close();
    await connection
      ?.withChannel(async (channel) => {
        for (const queue of ['pacs.worklist', 'pacs.quota-completions']) {
          await channel.deleteQueue(connection.name(queue));
          await channel.deleteQueue(connection.name(`${queue}.dead-letter`));
        }
      })
      .catch(() => undefined);
    await connection?.close();
    await db?.close();
    await drop?.();
    await orthanc?.teardown();
  });

  const eventually = async <T>(
    what: () => Promise<T | undefined | false>,
    timeoutMs = 30_000,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await what();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error('timed out waiting');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  async function get(path: string, role: 'clinician' | 'administrator' = 'clinician') {
    const response = await fetch(`${base}${path}`, { headers: { authorization: testAuthorization(role) } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  const intake = async () =>
    (await get('/api/imaging/intake', 'administrator')).body as {
      lastChange: number;
      studiesApplied: number;
      studiesSkipped: number;
    };

  /** The EMR's record update as the PACS's 2PC participant sees it: prepare, then commit. */
  async function commitRecordUpdate(patient: Patient, orders: ServiceRequest[]): Promise<void> {
    const gtid = newGtid();
    const call = async (phase: string, body: unknown) => {
      const response = await fetch(`${base}/internal/2pc/${gtid}/${phase}`, {
        method: 'POST',
        headers: {
          authorization: testServiceAuthorization('emr', 'pacs'),
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const prepared = await call('prepare', {
      coordinator: 'emr',
      payload: { patient, serviceRequests: orders },
    });
    expect(prepared).toEqual({ status: 200, body: { vote: 'yes' } });
    expect(await call('commit', { coordinator: 'emr' })).toEqual({ status: 200, body: { ack: 'committed' } });
  }

  function newOrder(patientId: string, category: 'imaging' | 'laboratory'): ServiceRequest {
    return {
      resourceType: 'ServiceRequest',
      id: randomUUID(),
      status: 'active',
      intent: 'order',
      category: [{ coding: [ORDER_CATEGORY[category]] }],
      code: {
        coding: [
          category === 'imaging'
            ? { system: 'http://loinc.org', code: '24627-2', display: 'CT Chest' }
            : { system: 'http://loinc.org', code: '58410-2', display: 'CBC panel' },
        ],
      },
      subject: { reference: `Patient/${patientId}` },
    };
  }

  function newPatient(): Patient {
    return {
      resourceType: 'Patient',
      id: randomUUID(),
      name: [{ family: 'Synthetic', given: ['Imaging'] }],
      gender: 'female',
      birthDate: '1961-04-12',
    };
  }

  const worklistFile = (order: ServiceRequest) =>
    join(orthanc.worklistDir, `${accessionNumberOf(order.id!)}.wl`);
  const resultsFor = (order: ServiceRequest) =>
    results.filter((r) => r.payload.serviceRequestId === order.id);
  const outboxResults = async (order: ServiceRequest) =>
    db.query<{ published: boolean }>(
      `SELECT (published_at IS NOT NULL) AS published FROM tx_outbox WHERE type = $1 AND aggregate_id = $2`,
      [ORDER_RESULT_TYPE, orderResultAggregate(order.id!)],
    );
  /** Once the outbox has published every result event of `order`: the events the results queue received. */
  const deliveredResults = async (order: ServiceRequest) => {
    const written = await eventually(async () => {
      const rows = await outboxResults(order);
      return rows.length > 0 && rows.every((r) => r.published) && rows;
    });
    await eventually(() => Promise.resolve(resultsFor(order).length >= written.length));
    return { written: written.length, received: resultsFor(order) };
  };
  const imagingStudiesFor = async (order: ServiceRequest) =>
    (await get(`/fhir/ImagingStudy?basedon=ServiceRequest/${order.id}`)).body as {
      total?: number;
      entry?: { resource: Record<string, unknown> }[];
    };

  it('turns a committed imaging order into a worklist entry, and the stored study into one ImagingStudy and one result', async () => {
    const patient = newPatient();
    const imaging = newOrder(patient.id!, 'imaging');
    const lab = newOrder(patient.id!, 'laboratory');
    await commitRecordUpdate(patient, [imaging, lab]);

    // The modality finds the order on its worklist by C-FIND; the laboratory order is not there.
    const entry = await eventually(async () =>
      (await modality.queryWorklist()).find((i) => i.accessionNumber === accessionNumberOf(imaging.id!)),
    );
    expect(entry).toMatchObject({
      patientId: patient.id,
      patientName: 'Synthetic^Imaging',
      patientBirthDate: '19610412',
      patientSex: 'F',
      modality: 'CT',
      scheduledStationAeTitle: 'CT1',
      studyInstanceUid: studyInstanceUidOf(imaging.id!),
    });
    expect(existsSync(join(orthanc.worklistDir, `${accessionNumberOf(lab.id!)}.wl`))).toBe(false);

    const before = await intake();
    expect(await modality.runOnce()).toMatchObject({ stored: 1 });

    const found = await eventually(async () => {
      const bundle = await imagingStudiesFor(imaging);
      return (bundle.entry ?? []).length > 0 && bundle;
    });
    expect(found.entry).toHaveLength(1);
    const study = found.entry![0].resource;
    expect(study).toMatchObject({
      id: imagingStudyIdOf(entry.studyInstanceUid),
      status: 'available',
      subject: { reference: `Patient/${patient.id}` },
      basedOn: [{ reference: `ServiceRequest/${imaging.id}` }],
      numberOfSeries: 1,
      numberOfInstances: 2,
      modality: [{ code: 'CT' }],
    });
    expect(study.identifier).toEqual(
      expect.arrayContaining([
        { system: 'urn:dicom:uid', value: `urn:oid:${entry.studyInstanceUid}` },
        expect.objectContaining({ value: accessionNumberOf(imaging.id!) }),
      ]),
    );
    const [endpointRef] = study.endpoint as { reference: string }[];
    const endpoint = await get(`/fhir/${endpointRef.reference}`);
    expect(endpoint).toMatchObject({
      status: 200,
      body: { connectionType: { code: 'dicom-wado-rs' }, address: `${orthanc.url}/dicom-web` },
    });
    // Found by patient and by accession number too.
    expect((await get(`/fhir/ImagingStudy?patient=Patient/${patient.id}`)).body.entry).toHaveLength(1);
    expect(
      (await get(`/fhir/ImagingStudy?identifier=${accessionNumberOf(imaging.id!)}`)).body.entry,
    ).toHaveLength(1);

    expect((await get(`/fhir/ServiceRequest/${imaging.id}`)).body.status).toBe('completed');
    const { written, received } = await deliveredResults(imaging);
    expect(written).toBe(1);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      type: ORDER_RESULT_TYPE,
      payload: { serviceRequestId: imaging.id, orderStatus: 'completed', resources: [{ id: study.id }] },
    });
    expect(await intake()).toMatchObject({ studiesApplied: before.studiesApplied + 1 });
    // The order is done: its entry leaves the worklist.
    await eventually(() => Promise.resolve(!existsSync(worklistFile(imaging))));

    // The EMR re-sends the order (a later record update): held already, so no new entry, still completed.
    await commitRecordUpdate(patient, [imaging]);
    expect((await get(`/fhir/ServiceRequest/${imaging.id}`)).body.status).toBe('completed');
    const requested = await db.query(
      `SELECT 1 FROM tx_outbox WHERE type = 'pacs.worklist-entry-requested' AND aggregate_id = $1`,
      [`WorklistEntry/${imaging.id}`],
    );
    expect(requested).toHaveLength(1);
    expect(existsSync(worklistFile(imaging))).toBe(false);
  });

  it('rides through an Orthanc restart between the order and the study, and a study reported again changes nothing', async () => {
    const patient = newPatient();
    const imaging = newOrder(patient.id!, 'imaging');
    await commitRecordUpdate(patient, [imaging]);
    await eventually(() => Promise.resolve(existsSync(worklistFile(imaging))));

    await orthanc.server.restart();
    expect(await modality.runOnce()).toMatchObject({ stored: 1 });
    const found = await eventually(async () => {
      const bundle = await imagingStudiesFor(imaging);
      return (bundle.entry ?? []).length > 0 && bundle;
    });
    expect(found.entry).toHaveLength(1);
    expect((await deliveredResults(imaging)).received).toHaveLength(1);

    // The whole feed read again (a cursor lost, the archive restarted on the same data): nothing changes.
    const { lastChange, studiesApplied } = await intake();
    const versions = await db.query(
      `SELECT version_id FROM fhir_resource_history WHERE resource_type = 'ImagingStudy'`,
    );
    await db.query(`UPDATE pacs_study_intake SET last_change = 0 WHERE id = 1`);
    await eventually(async () => (await intake()).lastChange >= lastChange);
    expect(
      await db.query(`SELECT version_id FROM fhir_resource_history WHERE resource_type = 'ImagingStudy'`),
    ).toEqual(versions);
    expect((await intake()).studiesApplied).toBe(studiesApplied);
    expect(await outboxResults(imaging)).toHaveLength(1);
    expect(resultsFor(imaging)).toHaveLength(1);
  });

  it('applies a study once when two PACS replicas poll the same archive', async () => {
    const config = replicaConfig(PORT + 1);
    const replica = await createServiceApp(PacsModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await replica.listen(PORT + 1, '127.0.0.1');
    try {
      const patient = newPatient();
      const orders = [newOrder(patient.id!, 'imaging'), newOrder(patient.id!, 'imaging')];
      await commitRecordUpdate(patient, orders);
      await eventually(() => Promise.resolve(orders.every((o) => existsSync(worklistFile(o)))));
      const before = await intake();
      expect(await modality.runOnce()).toMatchObject({ stored: 2 });
      await eventually(async () => (await intake()).studiesApplied === before.studiesApplied + 2);
      for (const order of orders) {
        expect((await imagingStudiesFor(order)).entry).toHaveLength(1);
        expect((await deliveredResults(order)).received).toHaveLength(1);
      }
      const versions = await db.query(
        `SELECT id FROM fhir_resource_history WHERE resource_type = 'ImagingStudy' AND version_id > 1`,
      );
      expect(versions).toEqual([]);
    } finally {
      await replica.close();
    }
  });

  it('skips and counts a study whose accession number no order has, changing nothing else', async () => {
    const before = await intake();
    const resources = await db.query(`SELECT resource_type, id, version_id FROM fhir_resource ORDER BY 1, 2`);
    const events = await db.query(`SELECT id FROM tx_outbox WHERE type = $1`, [ORDER_RESULT_TYPE]);
    await modality.storeStudy({
      accessionNumber: 'AFFFFFFFFFFFFFFF',
      studyInstanceUid: `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`)}`,
      patientId: 'walk-in',
      patientName: 'Unknown^Patient',
      modality: 'DX',
    });
    await eventually(async () => (await intake()).studiesSkipped === before.studiesSkipped + 1);
    expect(await intake()).toMatchObject({ studiesApplied: before.studiesApplied });
    expect(await db.query(`SELECT resource_type, id, version_id FROM fhir_resource ORDER BY 1, 2`)).toEqual(
      resources,
    );
    expect(await db.query(`SELECT id FROM tx_outbox WHERE type = $1`, [ORDER_RESULT_TYPE])).toEqual(events);
  });
});
