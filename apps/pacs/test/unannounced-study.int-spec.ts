import { randomBytes, randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { Bundle, Patient, ServiceRequest } from '@medplum/fhirtypes';
import { FhirExceptionFilter, ORDER_CATEGORY } from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { testAuthorization } from '@hospital/platform/testing/access-token';
import { testServiceAuthorization } from '@hospital/platform/testing/service-auth';
import { eventually } from '@hospital/platform/testing/waiting';
import { newGtid, RabbitMqConnection } from '@hospital/transactions';
import { ModalitySimulator } from '../../../scripts/lib/modality-simulator';
import { pacsConfig } from '../src/config';
import { migrations } from '../src/database/migrations';
import { accessionNumberOf } from '../src/dicom/dicom-identifiers';
import { PacsModule } from '../src/pacs.module';
import { startTestOrthanc, type TestOrthanc } from './support/orthanc';

/**
 * A study the archive never announces: Orthanc reports a study stable (StableStudy in its change feed) a
 * stable age after its last instance, and forgets the pending report when it restarts; after the restart
 * it counts the study stable, but the feed never says so. The archive here waits 120 s before calling a
 * study stable and is restarted right after the modality stores, so only the PACS's sweep of its open
 * orders can find the study: it must, once, and complete the order.
 */
jest.setTimeout(90_000);

const PORT = 4652;
const ORTHANC_HTTP = 4682;
const ORTHANC_DICOM = 4692;

describe('pacs and a study its archive never announced', () => {
  let orthanc: TestOrthanc;
  let app: INestApplication;
  let db: Database;
  let drop: () => Promise<void>;
  const namespace = `pacs-sweep-${randomBytes(4).toString('hex')}`;
  const base = `http://127.0.0.1:${PORT}`;

  beforeAll(async () => {
    orthanc = await startTestOrthanc(ORTHANC_HTTP, ORTHANC_DICOM, 120);
    const created = await createTestDatabase('pacs', migrations);
    drop = created.drop;
    db = new Database(created.settings, 'pacs-sweep-test');
    const config = pacsConfig({
      ...process.env,
      PGDATABASE: created.settings.database,
      PORT: String(PORT),
      LOG_LEVEL: 'error',
      MESSAGING_NAMESPACE: namespace,
      ORTHANC_URL: orthanc.url,
      ORTHANC_WORKLIST_DIR: orthanc.worklistDir,
      ORTHANC_POLL_MS: '100',
      ORTHANC_MAX_BACKOFF_MS: '500',
      SCHEDULED_STATION_AE_TITLE: 'CT1',
    });
    app = await createServiceApp(PacsModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await app.listen(PORT, '127.0.0.1');
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    const connection = new RabbitMqConnection(
      process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
      'pacs-sweep-test',
      namespace,
    );
    await connection
      .withChannel(async (channel) => {
        for (const queue of ['pacs.worklist', 'pacs.quota-completions']) {
          await channel.deleteQueue(connection.name(queue));
          await channel.deleteQueue(connection.name(`${queue}.dead-letter`));
        }
      })
      .catch(() => undefined);
    await connection.close();
    await db?.close();
    await drop?.();
    await orthanc?.teardown();
  });

  /** The EMR's record update as the PACS's 2PC participant sees it. */
  async function commitRecordUpdate(patient: Patient, order: ServiceRequest): Promise<void> {
    const gtid = newGtid();
    for (const [phase, body] of [
      ['prepare', { coordinator: 'emr', payload: { patient, serviceRequests: [order] } }],
      ['commit', { coordinator: 'emr' }],
    ] as const) {
      const response = await fetch(`${base}/internal/2pc/${gtid}/${phase}`, {
        method: 'POST',
        headers: {
          authorization: testServiceAuthorization('emr', 'pacs'),
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(200);
    }
  }

  const read = async (path: string) =>
    (await (
      await fetch(`${base}${path}`, { headers: { authorization: testAuthorization('clinician') } })
    ).json()) as Bundle | ServiceRequest;

  it('finds the study by sweeping the open orders, applies it once and completes the order', async () => {
    const patient: Patient = { resourceType: 'Patient', id: randomUUID(), name: [{ family: 'Sweep' }] };
    const order: ServiceRequest = {
      resourceType: 'ServiceRequest',
      id: randomUUID(),
      status: 'active',
      intent: 'order',
      category: [{ coding: [ORDER_CATEGORY.imaging] }],
      code: { coding: [{ system: 'http://loinc.org', code: '24627-2', display: 'CT Chest' }] },
      subject: { reference: `Patient/${patient.id}` },
    };
    await commitRecordUpdate(patient, order);
    const modality = new ModalitySimulator({
      orthancUrl: orthanc.url,
      dicomPort: ORTHANC_DICOM,
      calledAeTitle: orthanc.aeTitle,
      aeTitle: 'CT1',
    });
    const run = await eventually(
      () => modality.runOnce(),
      (r) => r.stored === 1,
    );
    expect(run.stored).toBe(1);
    // The archive restarts well within its stable age: StableStudy will never be in its feed.
    await orthanc.server.restart();
    const changes = (await (await fetch(`${orthanc.url}/changes?since=0&limit=1000`)).json()) as {
      Changes: { ChangeType: string }[];
    };

    const studies = await eventually(
      () => read(`/fhir/ImagingStudy?basedon=ServiceRequest/${order.id}`) as Promise<Bundle>,
      (bundle) => (bundle.entry ?? []).length > 0,
      30_000,
    );
    expect(studies.entry).toHaveLength(1);
    expect(changes.Changes.map((c) => c.ChangeType)).not.toContain('StableStudy');
    expect(await read(`/fhir/ServiceRequest/${order.id}`)).toMatchObject({ status: 'completed' });
    // Once: one order-result event, and the entry off the worklist.
    const events = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM tx_outbox WHERE type = 'order.result'`,
    );
    expect(events[0].n).toBe(1);
    const entries = await eventually(
      async () =>
        (await modality.queryWorklist()).filter((i) => i.accessionNumber === accessionNumberOf(order.id!)),
      (found) => found.length === 0,
    );
    expect(entries).toEqual([]);
  });
});
