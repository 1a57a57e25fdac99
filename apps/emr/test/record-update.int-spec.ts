import type { Bundle, Patient } from '@medplum/fhirtypes';
import { recordUpdateBundle } from '../../../scripts/lib/sample-bundle';
import { eventually, fhir, TestHospital } from './support/hospital';

/**
 * The EMR ↔ LIS ↔ PACS record update over real HTTP and real PostgreSQL prepared transactions: it commits
 * in all three databases or in none, and bad input changes nothing anywhere.
 */
jest.setTimeout(20_000);

describe('record update across EMR, LIS and PACS', () => {
  let hospital: TestHospital;
  let seq = 0;

  beforeAll(async () => {
    hospital = await TestHospital.start();
  }, 90_000);

  afterAll(async () => {
    await hospital?.stop();
  });

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fhir(`${hospital.emr.url}/fhir`, { body, headers });
  const entries = (bundle: Record<string, unknown>) => (bundle.entry ?? []) as NonNullable<Bundle['entry']>;
  /** The transactions the EMR ran for a client's correlation id, newest first. */
  const transactionsFor = async (correlationId: string) =>
    (await fhir(`${hospital.emr.url}/api/transactions?correlationId=${correlationId}`)).body as unknown as {
      gtid: string;
      state: string;
      correlationId: string;
    }[];

  it('commits a transaction Bundle in all three databases', async () => {
    const bundle = recordUpdateBundle(++seq, 'INT');
    const { status, body } = await post(bundle, { 'x-gtid': `int-commit-${seq}` });
    expect(status).toBe(200);
    expect(body.type).toBe('transaction-response');
    const [patient, encounter, lab, imaging] = entries(body).map(
      (e) => e.resource as { id: string; resourceType: string },
    );
    expect(entries(body).map((e) => e.response?.status)).toEqual([
      '201 Created',
      '201 Created',
      '201 Created',
      '201 Created',
    ]);

    // The department copies carry the EMR's ids; each department holds only its own orders.
    expect((await fhir(`${hospital.lis.url}/fhir/Patient/${patient.id}`)).status).toBe(200);
    expect((await fhir(`${hospital.pacs.url}/fhir/Patient/${patient.id}`)).status).toBe(200);
    expect((await fhir(`${hospital.lis.url}/fhir/ServiceRequest/${lab.id}`)).status).toBe(200);
    expect((await fhir(`${hospital.lis.url}/fhir/ServiceRequest/${imaging.id}`)).status).toBe(404);
    expect((await fhir(`${hospital.pacs.url}/fhir/ServiceRequest/${imaging.id}`)).status).toBe(200);
    expect((await fhir(`${hospital.emr.url}/fhir/Encounter/${encounter.id}`)).status).toBe(200);

    const [record] = await transactionsFor(`int-commit-${seq}`);
    expect(record).toMatchObject({ correlationId: `int-commit-${seq}`, state: 'committed' });
    const tx = await fhir(`${hospital.emr.url}/api/transactions/${record.gtid}`);
    expect(tx.body).toMatchObject({ style: '2pc', state: 'committed' });
    expect((await hospital.snapshot())['lis.prepared']).toBe(0);
  });

  it('takes a client x-gtid as a correlation id only: a replay is a new transaction whose ids all read back', async () => {
    const correlationId = `int-replay-${++seq}`;
    const first = await post(recordUpdateBundle(seq, 'INT'), { 'x-gtid': correlationId });
    expect(first.status).toBe(200);
    // The same Bundle again under the same header, as a client retrying after a lost answer would.
    const second = await post(recordUpdateBundle(seq, 'INT'), { 'x-gtid': correlationId });
    expect(second.status).toBe(200);
    const runs = await transactionsFor(correlationId);
    expect(runs.map((r) => r.state)).toEqual(['committed', 'committed']);
    expect(new Set(runs.map((r) => r.gtid)).size).toBe(2);
    expect(runs.map((r) => r.gtid)).not.toContain(correlationId);
    for (const answer of [first, second]) {
      const [patient, encounter, lab, imaging] = entries(answer.body).map(
        (e) => e.resource as { id: string; resourceType: string },
      );
      // Every id a 2xx answered with reads back, in the EMR and in the department that holds it.
      expect((await fhir(`${hospital.emr.url}/fhir/Patient/${patient.id}`)).status).toBe(200);
      expect((await fhir(`${hospital.emr.url}/fhir/Encounter/${encounter.id}`)).status).toBe(200);
      expect((await fhir(`${hospital.emr.url}/fhir/ServiceRequest/${lab.id}`)).status).toBe(200);
      expect((await fhir(`${hospital.lis.url}/fhir/ServiceRequest/${lab.id}`)).status).toBe(200);
      expect((await fhir(`${hospital.pacs.url}/fhir/ServiceRequest/${imaging.id}`)).status).toBe(200);
    }
    const snapshot = await hospital.snapshot();
    expect([snapshot['lis.prepared'], snapshot['pacs.prepared']]).toEqual([0, 0]);
  });

  it('refuses a malformed correlation id with 400 and changes nothing', async () => {
    const transactions = async () =>
      (await hospital.emr.db.query<{ n: number }>('SELECT count(*)::int AS n FROM tx_global'))[0]?.n;
    const before = { ...(await hospital.snapshot()), transactions: await transactions() };
    const response = await post(recordUpdateBundle(++seq, 'INT'), {
      'x-gtid': "x'; DROP TABLE tx_global;--",
    });
    expect(response.status).toBe(400);
    expect(response.body.resourceType).toBe('OperationOutcome');
    expect({ ...(await hospital.snapshot()), transactions: await transactions() }).toEqual(before);
  });

  it('reaches the LIS and PACS copies with a demographic update, and refuses a stale If-Match with 412', async () => {
    const created = await post(recordUpdateBundle(++seq, 'INT'));
    const patient = entries(created.body)[0].resource as unknown as Patient & { id: string };
    const renamed = { ...patient, meta: undefined, name: [{ family: 'Renamed', given: ['Test'] }] };
    const url = `${hospital.emr.url}/fhir/Patient/${patient.id}`;

    const updated = await fhir(url, { method: 'PUT', body: renamed, headers: { 'if-match': 'W/"1"' } });
    expect(updated.status).toBe(200);
    expect(updated.headers.get('etag')).toBe('W/"2"');
    for (const department of [hospital.lis, hospital.pacs]) {
      const copy = await fhir(`${department.url}/fhir/Patient/${patient.id}`);
      expect((copy.body as unknown as Patient).name?.[0]?.family).toBe('Renamed');
    }

    const before = await hospital.snapshot();
    const stale = await fhir(url, {
      method: 'PUT',
      body: { ...renamed, name: [{ family: 'Stale' }] },
      headers: { 'if-match': 'W/"1"' },
    });
    expect(stale.status).toBe(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');
    expect(await hospital.snapshot()).toEqual(before);
  });

  it('finds patients by identifier, name and birth date, with paging links', async () => {
    for (let i = 0; i < 3; i++) await post(recordUpdateBundle(++seq, 'PAGE'));
    const page = await fhir(`${hospital.emr.url}/fhir/Patient?name=synthetic&_count=2`);
    expect(page.status).toBe(200);
    const relations = (page.body.link as { relation: string }[]).map((l) => l.relation);
    expect(relations).toEqual(expect.arrayContaining(['self', 'next']));
    expect(entries(page.body)).toHaveLength(2);
    const byIdentifier = await fhir(`${hospital.lis.url}/fhir/Patient?identifier=PAGE-${seq}`);
    expect(byIdentifier.body.total).toBe(1);
    // FHIR: an unknown parameter is ignored and reported, and refused only under Prefer: handling=strict
    const strict = { headers: { prefer: 'handling=strict' } };
    const unknown = await fhir(`${hospital.emr.url}/fhir/Patient?colour=blue`, strict);
    expect(unknown.status).toBe(400);
    const lenient = await fhir(`${hospital.emr.url}/fhir/Patient?identifier=PAGE-${seq}&colour=blue`);
    expect(lenient.body.total).toBe(1);
  });

  describe('bad input gets a 4xx OperationOutcome and changes no database', () => {
    const oversized = JSON.stringify({
      resourceType: 'Patient',
      text: { status: 'generated', div: 'x'.repeat(1_200_000) },
    });
    const invalidPatient = { resourceType: 'Patient', gender: 'unknown-gender', birthDate: '1980-13-45' };
    const orderForUnknownPatient = {
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      category: [{ coding: [{ system: 'http://snomed.info/sct', code: '108252007' }] }],
      subject: { reference: 'Patient/does-not-exist' },
    };
    const cases: [string, string, { body?: unknown; raw?: string }, number][] = [
      ['malformed JSON', '/fhir', { raw: '{"resourceType": "Bundle", ' }, 400],
      [
        'wrong resourceType',
        '/fhir/Patient',
        { body: { resourceType: 'Observation', status: 'final' } },
        400,
      ],
      ['a resource that breaks FHIR R4 rules', '/fhir/Patient', { body: invalidPatient }, 400],
      [
        'a Bundle that is not a transaction',
        '/fhir',
        { body: { resourceType: 'Bundle', type: 'collection' } },
        400,
      ],
      ['a reference to an unknown patient', '/fhir/ServiceRequest', { body: orderForUnknownPatient }, 422],
      ['a body over the size limit', '/fhir/Patient', { raw: oversized }, 413],
    ];

    it.each(cases)('%s', async (_name, path, request, expected) => {
      const before = await hospital.snapshot();
      const response = await fhir(`${hospital.emr.url}${path}`, request);
      expect(response.status).toBe(expected);
      expect(response.body.resourceType).toBe('OperationOutcome');
      expect(await hospital.snapshot()).toEqual(before);
    });

    it('an invalid resource inside a transaction Bundle', async () => {
      const bundle = recordUpdateBundle(++seq, 'BAD');
      (bundle.entry?.[0]?.resource as unknown as Record<string, unknown>).birthDate = 'yesterday';
      const before = await hospital.snapshot();
      const response = await post(bundle);
      expect(response.status).toBe(400);
      expect(await hospital.snapshot()).toEqual(before);
    });
  });

  it('commits nowhere when a department is down, and leaves nothing prepared', async () => {
    await hospital.pacs.stop();
    try {
      const before = await hospital.snapshot();
      const response = await post(recordUpdateBundle(++seq, 'DOWN'), { 'x-gtid': `int-down-${seq}` });
      expect(response.status).toBe(503);
      expect(response.body.resourceType).toBe('OperationOutcome');
      const after = await hospital.snapshot();
      for (const key of Object.keys(before).filter((k) => k !== 'lis.tx_participant_branch')) {
        expect([key, after[key]]).toEqual([key, before[key]]);
      }
      // The abort cannot reach the PACS while it is down; recovery finishes it once the PACS is back.
      const [{ gtid }] = await transactionsFor(`int-down-${seq}`);
      expect((await fhir(`${hospital.emr.url}/api/transactions/${gtid}`)).body.state).toBe('aborting');
      await hospital.pacs.start();
      await eventually(
        async () => (await fhir(`${hospital.emr.url}/api/transactions/${gtid}`)).body.state === 'aborted',
      );
    } finally {
      if (hospital.pacs.process?.exitCode !== null) await hospital.pacs.start();
    }
  }, 60_000);

  it('serves health, metrics, the capability statement and OpenAPI', async () => {
    expect((await fhir(`${hospital.emr.url}/health/ready`)).status).toBe(200);
    const metadata = await fhir(`${hospital.emr.url}/fhir/metadata`);
    expect(metadata.body.resourceType).toBe('CapabilityStatement');
    const metrics = await (await fetch(`${hospital.emr.url}/metrics`)).text();
    expect(metrics).toMatch(
      /hospital_transactions_total\{[^}]*style="2pc"[^}]*outcome="committed"[^}]*\} [1-9]/,
    );
    expect((await fetch(`${hospital.emr.url}/api/docs`)).status).toBe(200);
    expect((await fhir(`${hospital.emr.url}/api/transactions?style=2pc&limit=5`)).status).toBe(200);
  });
});
