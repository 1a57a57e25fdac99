import type { AuditEvent, Bundle, Encounter, Patient } from '@medplum/fhirtypes';
import { Client, type FhirResource } from 'fhir-kit-client';
import { testAuthorization } from '@hospital/platform/testing/access-token';
import { eventually } from '@hospital/platform/testing/waiting';
import { recordUpdateBundle } from '../../../scripts/lib/sample-bundle';
import { E2eHospital } from './support/e2e-hospital';
import { refusal } from '@hospital/fhir/testing/client-refusal';

/**
 * The hospital as a newcomer's FHIR client meets it: fhir-kit-client, a real R4 client, against the
 * gateway's one base only, with real EMR, LIS, PACS, audit service and gateway processes over real HTTP,
 * PostgreSQL and RabbitMQ.
 */
jest.setTimeout(60_000);

const MRN = 'urn:oid:1.2.36.146.595.217.0.1';
/** The identifier system of the patients this spec pages through (only this spec's patients carry it). */
const PAGING_SYSTEM = `urn:hospital:e2e-paging:${Date.now()}`;

const ids = (bundle: Bundle): string[] => (bundle.entry ?? []).map((entry) => entry.resource?.id ?? '');

describe('the hospital through its gateway, as a fhir-kit-client newcomer sees it', () => {
  let hospital: E2eHospital;
  let base: string;
  let clinician: Client;
  let auditor: Client;
  let patientId = '';

  beforeAll(async () => {
    hospital = await E2eHospital.start(4400);
    base = `${hospital.gatewayUrl}/fhir`;
    clinician = new Client({
      baseUrl: base,
      customHeaders: { authorization: testAuthorization('clinician') },
    });
    auditor = new Client({ baseUrl: base, customHeaders: { authorization: testAuthorization('auditor') } });
  }, 120_000);

  afterAll(async () => {
    await hospital?.stop();
  });

  it('reads the merged CapabilityStatement, naming the gateway and the types of every backend', async () => {
    const statement = (await new Client({ baseUrl: base }).capabilityStatement()) as unknown as {
      fhirVersion: string;
      implementation?: { url?: string };
      rest: {
        resource: { type: string }[];
        interaction?: { code: string }[];
        security?: { service?: { coding?: { code?: string }[] }[] };
      }[];
    };
    expect(statement.fhirVersion).toBe('4.0.1');
    expect(statement.implementation?.url).toBe(base);
    expect(statement.rest[0]?.resource.map((r) => r.type)).toEqual(
      expect.arrayContaining(['Patient', 'Encounter', 'ServiceRequest', 'AuditEvent']),
    );
    expect(statement.rest[0]?.interaction).toEqual(expect.arrayContaining([{ code: 'transaction' }]));
    expect(statement.rest[0]?.security?.service?.[0]?.coding?.[0]?.code).toBe('SMART-on-FHIR');
  });

  it('finds SMART discovery under the FHIR base, without a token', async () => {
    const anonymous = new Client({ baseUrl: base });
    const discovery = (await anonymous.request('.well-known/smart-configuration')) as unknown as {
      issuer: string;
      token_endpoint: string;
      scopes_supported: string[];
      capabilities: string[];
    };
    expect(discovery.issuer).toBe((process.env.AUTH_ISSUER ?? '').replace(/\/+$/, ''));
    expect(discovery.scopes_supported).toEqual(expect.arrayContaining(['user/Patient.rs']));
    expect(discovery.capabilities).toEqual(expect.arrayContaining(['permission-v2']));
    // fhir-kit-client races .well-known against metadata: both name the same endpoints.
    const metadata = await anonymous.smartAuthMetadata();
    expect(metadata.tokenUrl?.toString()).toBe(new URL(discovery.token_endpoint).toString());
    expect(metadata.authorizeUrl?.toString()).toBeDefined();
  });

  it('creates and searches patients, reads one and updates it version-aware: a stale If-Match is a 412', async () => {
    const created = (await clinician.create({
      resourceType: 'Patient',
      body: {
        resourceType: 'Patient',
        identifier: [{ system: MRN, value: 'E2E-1' }],
        name: [{ family: 'Nwosu', given: ['Chioma'] }],
        gender: 'female',
      },
    })) as unknown as Patient;
    patientId = created.id ?? '';
    expect(patientId).not.toBe('');
    expect(created.meta?.versionId).toBe('1');

    const found = (await clinician.search({
      resourceType: 'Patient',
      searchParams: { identifier: `${MRN}|E2E-1` },
    })) as unknown as Bundle<Patient>;
    expect(found.type).toBe('searchset');
    expect(ids(found)).toEqual([patientId]);
    expect(found.entry?.[0]?.fullUrl).toBe(`${base}/Patient/${patientId}`);

    const read = (await clinician.read({ resourceType: 'Patient', id: patientId })) as unknown as Patient;
    expect(read.name?.[0]?.family).toBe('Nwosu');
    const updated = (await clinician.update({
      resourceType: 'Patient',
      id: patientId,
      body: { ...read, gender: 'other' },
      options: { headers: { 'If-Match': 'W/"1"' } },
    })) as unknown as Patient;
    expect(updated.meta?.versionId).toBe('2');

    const stale = await refusal(
      clinician.update({
        resourceType: 'Patient',
        id: patientId,
        body: { ...read, gender: 'male' },
        options: { headers: { 'If-Match': 'W/"1"' } },
      }),
    );
    expect(stale.status).toBe(412);
    expect(stale.outcome.resourceType).toBe('OperationOutcome');
    const after = (await clinician.read({ resourceType: 'Patient', id: patientId })) as unknown as Patient;
    expect(after.gender).toBe('other');
    expect(after.meta?.versionId).toBe('2');
  });

  it('submits a transaction Bundle, then finds its Encounter with the patient it _includes', async () => {
    const response = (await clinician.transaction({
      body: recordUpdateBundle(1, 'E2E-TX') as unknown as FhirResource,
    })) as unknown as Bundle;
    expect(response.type).toBe('transaction-response');
    const [patient, encounter] = (response.entry ?? []).map((entry) => entry.resource);
    expect(patient?.resourceType).toBe('Patient');
    expect(encounter?.resourceType).toBe('Encounter');

    const withPatient = (await clinician.search({
      resourceType: 'Encounter',
      searchParams: { subject: `Patient/${patient?.id}`, _include: 'Encounter:patient' },
    })) as unknown as Bundle<Encounter | Patient>;
    const entries = (withPatient.entry ?? []).map((entry) => ({
      type: entry.resource?.resourceType,
      id: entry.resource?.id,
      mode: entry.search?.mode,
    }));
    expect(entries).toEqual(
      expect.arrayContaining([
        { type: 'Encounter', id: encounter?.id, mode: 'match' },
        { type: 'Patient', id: patient?.id, mode: 'include' },
      ]),
    );
    expect(entries).toHaveLength(2);
  });

  it('pages through a search with nextPage() until the end, every patient once', async () => {
    const made: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      const patient = (await clinician.create({
        resourceType: 'Patient',
        body: {
          resourceType: 'Patient',
          identifier: [{ system: PAGING_SYSTEM, value: `P-${i}` }],
          name: [{ family: `Pager${i}` }],
        },
      })) as unknown as Patient;
      made.push(patient.id ?? '');
    }
    let page = (await clinician.search({
      resourceType: 'Patient',
      searchParams: { identifier: `${PAGING_SYSTEM}|`, _count: 3 },
    })) as unknown as Bundle | false;
    const seen: string[] = [];
    let pages = 0;
    while (page) {
      pages += 1;
      expect(pages).toBeLessThanOrEqual(5);
      for (const link of page.link ?? []) expect(link.url.startsWith(`${base}/Patient`)).toBe(true);
      seen.push(...ids(page));
      page = (await clinician.nextPage({
        bundle: page as unknown as Parameters<Client['nextPage']>[0]['bundle'],
      })) as unknown as Bundle | false;
    }
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual([...made].sort());
  });

  it('shows an auditor the reads this spec made of a patient, once the relay delivered them; a clinician is refused', async () => {
    expect(patientId).not.toBe('');
    const search = (): Promise<Bundle<AuditEvent>> =>
      auditor.search({
        resourceType: 'AuditEvent',
        searchParams: { patient: patientId, _count: 100 },
      }) as unknown as Promise<Bundle<AuditEvent>>;
    // The spec read the patient twice (read, and again after the stale update), and searched for it once.
    const trail = await eventually(
      search,
      (bundle) => (bundle.entry ?? []).filter((e) => e.resource?.subtype?.[0]?.code === 'read').length >= 2,
      30_000,
    );
    const events = (trail.entry ?? []).map((entry) => entry.resource!);
    const reads = events.filter((event) => event.subtype?.[0]?.code === 'read');
    expect(reads.length).toBeGreaterThanOrEqual(2);
    for (const event of reads) {
      expect(event.outcome).toBe('0');
      expect(event.agent?.[0]?.who?.identifier?.value ?? event.agent?.[0]?.who?.display).toContain(
        'test-clinician',
      );
      expect(event.entity?.[0]?.what?.reference).toBe(`Patient/${patientId}`);
    }
    expect(events.some((event) => event.subtype?.[0]?.code === 'search-type')).toBe(true);

    const refused = await refusal(
      clinician.search({ resourceType: 'AuditEvent', searchParams: { patient: patientId } }),
    );
    expect(refused.status).toBe(403);
    expect(refused.outcome.resourceType).toBe('OperationOutcome');
  });
});
