import type { Bundle, Patient, ServiceRequest } from '@medplum/fhirtypes';
import { Client, type FhirResource } from 'fhir-kit-client';
import { recordUpdateBundle } from '../../../scripts/lib/sample-bundle';
import { TestHospital } from './support/hospital';
import { testAuthorization } from '@hospital/platform/testing/access-token';
import { refusal } from '@hospital/fhir/testing/client-refusal';

/**
 * The EMR, the LIS and the PACS as an outside FHIR client sees them: fhir-kit-client, a real R4 client,
 * over real HTTP against the real services and databases.
 */
jest.setTimeout(30_000);

describe('the record services through fhir-kit-client', () => {
  let hospital: TestHospital;
  let emr: Client;
  let lis: Client;
  let pacs: Client;

  beforeAll(async () => {
    hospital = await TestHospital.start();
    emr = new Client({
      baseUrl: `${hospital.emr.url}/fhir`,
      customHeaders: { authorization: testAuthorization('clinician') },
    });
    lis = new Client({
      baseUrl: `${hospital.lis.url}/fhir`,
      customHeaders: { authorization: testAuthorization('clinician') },
    });
    pacs = new Client({
      baseUrl: `${hospital.pacs.url}/fhir`,
      customHeaders: { authorization: testAuthorization('clinician') },
    });
  }, 90_000);

  afterAll(async () => {
    await hospital?.stop();
  });

  it('reads each service CapabilityStatement', async () => {
    for (const [client, types] of [
      [emr, ['Patient', 'Encounter', 'ServiceRequest', 'Practitioner']],
      [lis, ['Patient', 'ServiceRequest']],
    ] as const) {
      const capability = (await client.capabilityStatement()) as unknown as {
        fhirVersion: string;
        rest: { resource: { type: string }[] }[];
      };
      expect(capability.fhirVersion).toBe('4.0.1');
      expect(capability.rest[0].resource.map((r) => r.type)).toEqual(expect.arrayContaining([...types]));
    }
  });

  it('creates, reads, searches and updates a Patient; a stale If-Match gets 412 and changes nothing', async () => {
    const created = (await emr.create({
      resourceType: 'Patient',
      body: {
        resourceType: 'Patient',
        identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: 'FKC-1' }],
        name: [{ family: 'Okafor', given: ['Adaeze'] }],
        gender: 'female',
      },
    })) as unknown as Patient;
    expect(created.id).toEqual(expect.any(String));
    expect(created.meta?.versionId).toBe('1');

    const read = (await emr.read({ resourceType: 'Patient', id: created.id! })) as unknown as Patient;
    expect(read.name?.[0]?.family).toBe('Okafor');

    const found = (await emr.search({
      resourceType: 'Patient',
      searchParams: { identifier: 'urn:oid:1.2.36.146.595.217.0.1|FKC-1' },
    })) as unknown as Bundle<Patient>;
    expect(found.type).toBe('searchset');
    expect(found.entry?.map((entry) => entry.resource?.id)).toEqual([created.id]);

    const updated = (await emr.update({
      resourceType: 'Patient',
      id: created.id!,
      body: { ...read, gender: 'other' },
      options: { headers: { 'If-Match': 'W/"1"' } },
    })) as unknown as Patient;
    expect(updated.meta?.versionId).toBe('2');

    const stale = await refusal(
      emr.update({
        resourceType: 'Patient',
        id: created.id!,
        body: { ...read, gender: 'male' },
        options: { headers: { 'If-Match': 'W/"1"' } },
      }),
    );
    expect(stale.status).toBe(412);
    expect(stale.outcome.resourceType).toBe('OperationOutcome');
    expect(
      ((await emr.read({ resourceType: 'Patient', id: created.id! })) as unknown as Patient).gender,
    ).toBe('other');
  });

  it('creates a Patient once for concurrent retries with the same If-None-Exist, and answers the rest with it', async () => {
    const identifier = { system: 'urn:oid:1.2.36.146.595.217.0.1', value: 'FKC-RETRY-1' };
    const attempts = await Promise.all(
      Array.from({ length: 5 }, () =>
        fetch(`${hospital.emr.url}/fhir/Patient`, {
          method: 'POST',
          headers: {
            'content-type': 'application/fhir+json',
            authorization: testAuthorization('clinician'),
            'if-none-exist': `identifier=${identifier.system}|${identifier.value}`,
          },
          body: JSON.stringify({
            resourceType: 'Patient',
            identifier: [identifier],
            name: [{ family: 'Retry' }],
          }),
        }).then(async (response) => ({ status: response.status, body: (await response.json()) as Patient })),
      ),
    );
    expect(attempts.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(attempts.map((a) => a.body.id)).size).toBe(1);
    const found = (await emr.search({
      resourceType: 'Patient',
      searchParams: { identifier: `${identifier.system}|${identifier.value}` },
    })) as unknown as Bundle<Patient>;
    expect(found.entry).toHaveLength(1);
    const copies = (await lis.search({
      resourceType: 'Patient',
      searchParams: { identifier: `${identifier.system}|${identifier.value}` },
    })) as unknown as Bundle<Patient>;
    expect(copies.entry).toHaveLength(1);
  });

  it('submits a record update as a transaction Bundle, and reads the copies in the LIS and the PACS', async () => {
    const response = (await emr.transaction({
      body: recordUpdateBundle(1, 'FKC') as unknown as FhirResource,
    })) as unknown as Bundle;
    expect(response.type).toBe('transaction-response');
    const [patient, , lab, imaging] = (response.entry ?? []).map((entry) => entry.resource!);
    expect(((await lis.read({ resourceType: 'Patient', id: patient.id! })) as unknown as Patient).id).toBe(
      patient.id,
    );
    expect(
      ((await lis.read({ resourceType: 'ServiceRequest', id: lab.id! })) as unknown as ServiceRequest).id,
    ).toBe(lab.id);
    const inPacs = (await pacs.search({
      resourceType: 'ServiceRequest',
      searchParams: { subject: `Patient/${patient.id}` },
    })) as unknown as Bundle<ServiceRequest>;
    expect(inPacs.entry?.map((entry) => entry.resource?.id)).toEqual([imaging.id]);
  });

  it('refuses an invalid Patient with a 400 OperationOutcome naming the path, and stores nothing', async () => {
    const invalid = await refusal(
      emr.create({
        resourceType: 'Patient',
        body: {
          resourceType: 'Patient',
          identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: 'FKC-BAD' }],
          gender: 'robot',
        },
      }),
    );
    expect(invalid.status).toBe(400);
    expect(invalid.outcome.issue?.[0]?.expression).toEqual(['Patient.gender']);
    const found = (await emr.search({
      resourceType: 'Patient',
      searchParams: { identifier: 'urn:oid:1.2.36.146.595.217.0.1|FKC-BAD' },
    })) as unknown as Bundle;
    expect(found.entry ?? []).toHaveLength(0);
  });
});
