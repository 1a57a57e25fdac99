import type { DiagnosticReport, Encounter } from '@medplum/fhirtypes';
import { FhirResourceStore, FhirValidator, SearchParameterRegistry } from '@hospital/fhir';
import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { consultFindingsBranch } from '../src/consults/consult-findings.branch';
import { migrations } from '../src/database/migrations';
import { EMR_RESOURCES } from '../src/fhir-resources';

const VR = { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' };

/** The findings of a telemedicine consult about `patientId`, as telemedicine sends them. */
function findings(
  patientId: string,
  suffix: string,
): { diagnosticReport: DiagnosticReport; encounter: Encounter } {
  return {
    encounter: {
      resourceType: 'Encounter',
      id: `enc-${suffix}`,
      status: 'finished',
      class: VR,
      subject: { reference: `Patient/${patientId}` },
      basedOn: [{ reference: `ServiceRequest/sr-${suffix}` }],
      period: { start: '2025-01-10T09:00:00Z', end: '2025-01-10T09:30:00Z' },
    },
    diagnosticReport: {
      resourceType: 'DiagnosticReport',
      id: `dr-${suffix}`,
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '11488-4', display: 'Consult note' }] },
      subject: { reference: `Patient/${patientId}` },
      encounter: { reference: `Encounter/enc-${suffix}` },
      basedOn: [{ reference: `ServiceRequest/sr-${suffix}` }],
      conclusion: 'Findings consistent with contact dermatitis.',
    },
  };
}

describe('EMR consult-findings branch (real PostgreSQL)', () => {
  let drop: () => Promise<void>;
  let db: Database;
  const store = new FhirResourceStore(new SearchParameterRegistry(EMR_RESOURCES));
  const apply = consultFindingsBranch(store, new FhirValidator());
  const versions = async () =>
    (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource_history'))[0].n;

  beforeAll(async () => {
    const created = await createTestDatabase('emr', migrations);
    drop = created.drop;
    db = new Database(created.settings, 'emr-consult-findings-spec');
    await store.create(db, { resourceType: 'Patient', name: [{ family: 'Okafor' }] }, { id: 'pat-0001' });
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it('stores the findings and the consult encounter in the chart once however often applied', async () => {
    const payload = findings('pat-0001', '1');
    await db.transaction((tx) => apply(tx, payload, 'gtid-1'));
    const after = await versions();
    await db.transaction((tx) => apply(tx, payload, 'gtid-1'));
    expect(await versions()).toBe(after);
    expect(await store.read(db, 'DiagnosticReport', 'dr-1')).toMatchObject({ status: 'final' });
    const search = new SearchParameterRegistry(EMR_RESOURCES).parseSearch('Encounter', {
      'based-on': 'ServiceRequest/sr-1',
    });
    expect((await store.search(db, search)).resources.map((r) => r.id)).toEqual(['enc-1']);
  });

  it('fails with a clear message for a patient the EMR does not hold, writing nothing', async () => {
    const before = await versions();
    await expect(db.transaction((tx) => apply(tx, findings('pat-unknown', '2'), 'gtid-2'))).rejects.toThrow(
      /Patient\/pat-unknown, which the EMR does not hold/,
    );
    expect(await versions()).toBe(before);
  });

  it('refuses a bad payload and writes nothing', async () => {
    const before = await versions();
    const bad = { ...findings('pat-0001', '3'), encounter: { resourceType: 'Encounter', id: 'enc-3' } };
    await expect(db.transaction((tx) => apply(tx, bad, 'gtid-3'))).rejects.toThrow(
      /consult-findings payload/,
    );
    await expect(db.transaction((tx) => apply(tx, 'findings', 'gtid-3'))).rejects.toThrow(
      /not a JSON object/,
    );
    expect(await versions()).toBe(before);
  });
});
