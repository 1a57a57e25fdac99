import type { Bundle, DiagnosticReport, ImagingStudy, Observation, ServiceRequest } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type FhirResource } from 'fhir-kit-client';
import { testAuthorization } from '@hospital/platform/testing/access-token';
import { eventually } from '@hospital/platform/testing/waiting';
import { OrthancServer } from '../../../scripts/infra/orthanc';
import { AnalyzerSimulator, PANELS } from '../../../scripts/lib/analyzer-simulator';
import { ModalitySimulator } from '../../../scripts/lib/modality-simulator';
import { recordUpdateBundle } from '../../../scripts/lib/sample-bundle';
import { E2eHospital } from './support/e2e-hospital';

/**
 * The laboratory and imaging loop end to end, as a clinician's FHIR client sees it through the gateway:
 * one transaction Bundle with a laboratory and an imaging order goes in; the LIS sends the lab order to an
 * analyzer over MLLP (OML^O21), the analyzer's ORU^R01 comes back over MLLP, and the PACS's worklist on a
 * real Orthanc gives the modality its entry, whose study it stores by STOW-RS. What comes out, by FHIR
 * search on the one base: the DiagnosticReport with its Observations and the ImagingStudy with its
 * DICOMweb Endpoint, and both orders completed. Every part is a real process (EMR, LIS, PACS, audit,
 * gateway from `dist/`; Orthanc from Debian) over real HTTP, MLLP, DICOM, PostgreSQL and RabbitMQ.
 */
jest.setTimeout(120_000);

const PORTS = { hospital: 4420, analyzer: 4425, mllp: 4426, orthancHttp: 4427, orthancDicom: 4428 };
const CBC = '58410-2';

const resources = <T>(bundle: Bundle): T[] => (bundle.entry ?? []).map((e) => e.resource as T);

describe('a laboratory and an imaging order through the gateway, back as FHIR results', () => {
  const archiveDir = mkdtempSync(join(tmpdir(), 'results-loop-orthanc-'));
  const orthanc = new OrthancServer({
    dir: archiveDir,
    httpPort: PORTS.orthancHttp,
    dicomPort: PORTS.orthancDicom,
    aeTitle: 'LOOPARCHIVE',
    stableAgeSeconds: 1,
  });
  let analyzer: AnalyzerSimulator;
  let modality: ModalitySimulator;
  let hospital: E2eHospital;
  let clinician: Client;

  beforeAll(async () => {
    await orthanc.start();
    analyzer = new AnalyzerSimulator({
      port: PORTS.analyzer,
      lisPort: PORTS.mllp,
      resultDelayMs: 100,
      retryMs: 200,
    });
    await analyzer.start();
    modality = new ModalitySimulator({
      orthancUrl: orthanc.url,
      dicomPort: PORTS.orthancDicom,
      calledAeTitle: 'LOOPARCHIVE',
    });
    hospital = await E2eHospital.start(
      PORTS.hospital,
      {},
      {
        ANALYZER_MLLP_PORT: String(PORTS.analyzer),
        HL7_LISTEN_PORT: String(PORTS.mllp),
        ORTHANC_URL: orthanc.url,
        ORTHANC_WORKLIST_DIR: orthanc.paths.worklists,
        ORTHANC_POLL_MS: '200',
      },
    );
    clinician = new Client({
      baseUrl: `${hospital.gatewayUrl}/fhir`,
      customHeaders: { authorization: testAuthorization('clinician') },
    });
  }, 120_000);

  afterAll(async () => {
    await hospital?.stop();
    await analyzer?.stop();
    await orthanc.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  it('files the analyzer result and the stored study in the chart, and completes both orders', async () => {
    const response = (await clinician.transaction({
      body: recordUpdateBundle(Date.now() % 100_000, 'LOOP') as unknown as FhirResource,
    })) as unknown as Bundle;
    const [patient, , lab, imaging] = resources<{ id: string; resourceType: string }>(response);
    expect([patient?.resourceType, lab?.resourceType, imaging?.resourceType]).toEqual([
      'Patient',
      'ServiceRequest',
      'ServiceRequest',
    ]);

    // The analyzer gets the order once; the modality finds its worklist entry and stores the study.
    await eventually(
      () => Promise.resolve(analyzer.counters.ordersReceived),
      (n) => n >= 1,
    );
    expect(analyzer.orders.map((o) => [o.placerOrderNumber, o.panel])).toEqual([[lab.id, CBC]]);
    const stored = await eventually(
      () => modality.runOnce(),
      (run) => run.stored >= 1,
      30_000,
    );
    expect(stored.stored).toBe(1);

    const search = async <T>(query: string) =>
      resources<T>(
        (await clinician.search({
          resourceType: query.split('?')[0],
          searchParams: params(query),
        })) as unknown as Bundle,
      );
    const reports = await eventually(
      () => search<DiagnosticReport>(`DiagnosticReport?based-on=ServiceRequest/${lab.id}`),
      (found) => found.length > 0,
      30_000,
    );
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status: 'final', subject: { reference: `Patient/${patient.id}` } });
    const observations = await search<Observation>(`Observation?based-on=ServiceRequest/${lab.id}`);
    expect(observations.map((o) => o.code?.coding?.[0]?.code).sort()).toEqual(
      PANELS[CBC].analytes.map((a) => a.code).sort(),
    );
    expect(reports[0].result?.map((r) => r.reference).sort()).toEqual(
      observations.map((o) => `Observation/${o.id}`).sort(),
    );

    const studies = await eventually(
      () => search<ImagingStudy>(`ImagingStudy?basedon=ServiceRequest/${imaging.id}`),
      (found) => found.length > 0,
      30_000,
    );
    expect(studies).toHaveLength(1);
    expect(studies[0]).toMatchObject({ subject: { reference: `Patient/${patient.id}` }, numberOfSeries: 1 });
    const endpoint = studies[0].endpoint?.[0]?.reference ?? '';
    const [type, id] = endpoint.split('/');
    expect(await clinician.read({ resourceType: type, id: id })).toMatchObject({
      resourceType: 'Endpoint',
      address: expect.stringContaining(`${orthanc.url}/dicom-web`),
    });

    // The orders follow their results in the EMR.
    for (const order of [lab, imaging]) {
      const read = await eventually(
        async () =>
          (await clinician.read({
            resourceType: 'ServiceRequest',
            id: order.id,
          })) as unknown as ServiceRequest,
        (r) => r.status === 'completed',
      );
      expect(read.status).toBe('completed');
    }
    // Exactly once at the analyzer, however often the result was sent.
    expect(analyzer.counters).toMatchObject({ ordersReceived: 1, resultsAcknowledged: 1 });
  });
});

function params(query: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(query.split('?')[1] ?? ''));
}
