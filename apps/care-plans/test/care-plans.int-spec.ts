import type { Bundle, CarePlan, CareTeam, OperationOutcome } from '@medplum/fhirtypes';
import { carePlanExample, careTeamExample, type PlanExample } from '../src/testing/care-plan-examples';
import { call, CarePlansHospital, type Reply } from './support/care-plans-hospital';

/**
 * care-plans over real HTTP with real participants: the EMR, appointments, the PACS and the pharmacy's
 * inventory as processes from `dist/`, care-plans as a Nest app, each on a fresh database. A plan booked in
 * saga and in TCC mode ends active with each of its reservations applied once; a plan the pharmacy cannot
 * stock ends revoked with nothing left applied or held; bad teams and plans get a 4xx and reserve nothing.
 */
jest.setTimeout(180_000);

const PATIENT = 'pat-cp-1';
const OTHER_PATIENT = 'pat-cp-2';
const PRACTITIONERS = ['prac-cp-1', 'prac-cp-2', 'prac-cp-3'];
const DAY = '2026-12-07';
const DRUG = '197361';
const WARD = 'ward-3a';
const DRUG_RESOURCE = `drug:${DRUG}@${WARD}`;
const CT_RESOURCE = `imaging:CT:${DAY}`;

let hospital: CarePlansHospital;
let teamId: string;
let slots: string[];
let nextSlot = 0;

const fhir = <T = Record<string, unknown>>(path: string, init: Parameters<typeof call>[1] = {}) =>
  call<T>(`${hospital.carePlans.url}/fhir${path}`, init);

function expectOutcome(reply: Reply<unknown>, status: number, code: string): OperationOutcome {
  expect(reply.status).toBe(status);
  expect(reply.headers.get('content-type')).toContain('application/fhir+json');
  const outcome = reply.body as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue?.[0]?.code).toBe(code);
  return outcome;
}

/** Slots of a fresh schedule of the first practitioner at appointments (each `slot:<id>` registered there). */
const takeSlots = (n: number): string[] => {
  const taken = slots.slice(nextSlot, nextSlot + n);
  nextSlot += n;
  if (taken.length < n) throw new Error('the spec ran out of slots');
  return taken;
};

function plan(overrides: Partial<PlanExample> = {}, slotIds = takeSlots(2)): CarePlan {
  return carePlanExample({
    patientId: PATIENT,
    careTeamId: teamId,
    consults: slotIds.map((slotId, i) => ({ slotId, practitionerId: PRACTITIONERS[i % 2] })),
    imaging: { modality: 'CT', day: DAY },
    regimen: { drugCode: DRUG, locationId: WARD, quantity: 30 },
    ...overrides,
  });
}

const post = (body: CarePlan, mode?: string, headers: Record<string, string> = {}) =>
  fhir<CarePlan & { id: string }>(mode === undefined ? '/CarePlan' : `/CarePlan?_mode=${mode}`, {
    body,
    headers,
  });

/**
 * Rows of care-plans' own tables that a started plan writes (nothing may change for a refused one; the
 * audit trail's record of the refusal, which every access writes to the outbox, aside).
 */
async function carePlanRows(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['care_plan', 'tx_saga', 'tx_tcc', 'tx_outbox']) {
    const audit = table === 'tx_outbox' ? ` WHERE type <> 'audit.record'` : '';
    const [row] = await hospital.carePlans.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table}${audit}`,
    );
    counts[table] = row?.n ?? 0;
  }
  const [fhirRows] = await hospital.carePlans.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM fhir_resource WHERE resource_type = 'CarePlan'`,
  );
  counts.carePlans = fhirRows?.n ?? 0;
  return counts;
}

beforeAll(async () => {
  hospital = await CarePlansHospital.start({ basePort: 3750, carePlans: 'in-process' });
  await hospital.seedEmr([
    { resourceType: 'Patient', id: PATIENT, gender: 'female', birthDate: '1961-04-02' },
    { resourceType: 'Patient', id: OTHER_PATIENT, gender: 'male', birthDate: '1970-01-01' },
    ...PRACTITIONERS.map((id) => ({ resourceType: 'Practitioner' as const, id })),
  ]);
  await hospital.offer('pacs', CT_RESOURCE, 10);
  await hospital.offer('pharmacy', DRUG_RESOURCE, 1_000);
  slots = await hospital.createSlots(PRACTITIONERS[0], DAY, 48);
  const team = await fhir<CareTeam & { id: string }>('/CareTeam', {
    body: careTeamExample(PATIENT, PRACTITIONERS.slice(0, 2)),
  });
  expect(team.status).toBe(201);
  teamId = team.body.id;
}, 180_000);

afterAll(async () => {
  await hospital?.close();
});

describe('care teams', () => {
  it('are stored once the EMR knows the patient and every practitioner', async () => {
    const read = await fhir<CareTeam>(`/CareTeam/${teamId}`);
    expect(read.status).toBe(200);
    expect(read.body.participant?.map((p) => p.member?.reference)).toEqual([
      `Practitioner/${PRACTITIONERS[0]}`,
      `Practitioner/${PRACTITIONERS[1]}`,
    ]);
    const found = await fhir<Bundle>(`/CareTeam?subject=Patient/${PATIENT}`);
    expect(found.body.total).toBe(1);
  });

  it('naming an unknown patient or practitioner get a 422 and store nothing; a malformed one a 400', async () => {
    const before = await fhir<Bundle>('/CareTeam?_total=accurate');
    const unknownPatient = await fhir('/CareTeam', { body: careTeamExample('pat-nobody', PRACTITIONERS) });
    const outcome = expectOutcome(unknownPatient, 422, 'not-found');
    expect(JSON.stringify(outcome)).not.toContain('pat-nobody');
    const unknownPractitioner = await fhir('/CareTeam', {
      body: careTeamExample(PATIENT, [PRACTITIONERS[0], 'prac-nobody']),
    });
    expect(expectOutcome(unknownPractitioner, 422, 'not-found').issue?.[0]?.diagnostics).toContain(
      'prac-nobody',
    );
    const malformed = await fhir('/CareTeam', {
      body: {
        ...careTeamExample(PATIENT, PRACTITIONERS),
        participant: [{ member: { reference: 'Organization/o' } }],
      },
    });
    expectOutcome(malformed, 400, 'required');
    expect((await fhir<Bundle>('/CareTeam?_total=accurate')).body.total).toBe(before.body.total);
  });
});

/** Each reservation of a booked plan, applied once at its participant under the plan's gtid. */
async function expectApplied(
  gtid: string,
  mode: 'saga' | 'tcc' | 'quota-saga',
  slotIds: string[],
  units: number,
): Promise<void> {
  const consults = await hospital.claims('appointments', gtid);
  expect(consults.map((c) => [c.key, c.resource, c.units, c.state]).sort()).toEqual(
    slotIds.map((s, i) => [`${gtid}:consults:${i}`, `slot:${s}`, 1, 'applied']).sort(),
  );
  expect(consults.every((c) => c.mode === mode)).toBe(true);
  expect((await hospital.claims('pacs', gtid)).map((c) => [c.key, c.resource, c.units, c.state])).toEqual([
    [`${gtid}:imaging`, CT_RESOURCE, 1, 'applied'],
  ]);
  expect((await hospital.claims('pharmacy', gtid)).map((c) => [c.key, c.resource, c.units, c.state])).toEqual(
    [[`${gtid}:regimen`, DRUG_RESOURCE, units, 'applied']],
  );
  for (const slotId of slotIds)
    expect(await hospital.level('appointments', `slot:${slotId}`)).toMatchObject({
      taken: 1,
      held: 0,
      available: 0,
    });
}

describe.each(['saga', 'tcc'] as const)('a plan booked in %s mode', (mode) => {
  it('ends active (201), each reservation applied once, readable and searchable', async () => {
    const slotIds = takeSlots(2);
    const ct = await hospital.level('pacs', CT_RESOURCE);
    const drug = await hospital.level('pharmacy', DRUG_RESOURCE);
    const created = await post(plan({}, slotIds), mode);
    expect(created.status).toBe(201);
    const gtid = created.headers.get('x-gtid') ?? '';
    expect(gtid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.headers.get('location')).toBe(
      `${hospital.carePlans.url}/fhir/CarePlan/${created.body.id}/_history/${created.body.meta?.versionId}`,
    );
    expect(created.body).toMatchObject({ resourceType: 'CarePlan', status: 'active' });
    expect(created.body.identifier).toContainEqual({ system: 'urn:hospital:care-plans:gtid', value: gtid });
    expect(created.body.activity?.map((a) => a.detail?.status)).toEqual([
      'scheduled',
      'scheduled',
      'scheduled',
      'scheduled',
    ]);

    await expectApplied(gtid, mode, slotIds, 30);
    expect((await hospital.level('pacs', CT_RESOURCE))?.taken).toBe((ct?.taken ?? 0) + 1);
    expect((await hospital.level('pharmacy', DRUG_RESOURCE))?.taken).toBe((drug?.taken ?? 0) + 30);
    expect((await hospital.level('pharmacy', DRUG_RESOURCE))?.held).toBe(0);

    const [row] = await hospital.carePlans.db.query<{ status: string; mode: string; gtid: string }>(
      'SELECT status, mode, gtid FROM care_plan WHERE plan_id = $1',
      [created.body.id],
    );
    expect(row).toEqual({ status: 'active', mode, gtid });
    const found = await fhir<Bundle<CarePlan>>(
      `/CarePlan?status=active&subject=Patient/${PATIENT}&_count=100`,
    );
    expect(found.body.entry?.map((e) => e.resource?.id)).toContain(created.body.id);
    const byGtid = await fhir<Bundle<CarePlan>>(`/CarePlan?identifier=urn:hospital:care-plans:gtid|${gtid}`);
    expect(byGtid.body.entry?.map((e) => e.resource?.id)).toEqual([created.body.id]);
  });

  it('a plan the pharmacy cannot stock is revoked (409 naming the step), nothing left applied or held', async () => {
    const slotIds = takeSlots(2);
    const ct = await hospital.level('pacs', CT_RESOURCE);
    const drug = await hospital.level('pharmacy', DRUG_RESOURCE);
    const refused = await post(
      plan({ regimen: { drugCode: DRUG, locationId: WARD, quantity: 10_000 } }, slotIds),
      mode,
    );
    const outcome = expectOutcome(refused, 409, 'conflict');
    expect(outcome.issue?.[0]?.diagnostics).toMatch(/step regimen failed/);
    expect(outcome.issue?.[0]?.expression).toEqual(['CarePlan.activity[3]']);
    const gtid = refused.headers.get('x-gtid') ?? '';
    expect(gtid).not.toBe('');
    const location = refused.headers.get('location') ?? '';
    expect(location).toMatch(/\/fhir\/CarePlan\/[0-9a-f-]{36}$/);

    const revoked = await call<CarePlan>(location);
    expect(revoked.status).toBe(200);
    expect(revoked.body.status).toBe('revoked');
    expect(revoked.body.note?.[0]?.text).toMatch(/^Revoked: regimen/);
    expect(revoked.body.activity?.every((a) => a.detail?.status === 'cancelled')).toBe(true);

    for (const participant of ['appointments', 'pacs', 'pharmacy'] as const)
      for (const claim of await hospital.claims(participant, gtid)) expect(claim.state).toBe('released');
    for (const slotId of slotIds)
      expect(await hospital.level('appointments', `slot:${slotId}`)).toMatchObject({
        taken: 0,
        held: 0,
        available: 1,
      });
    expect(await hospital.level('pacs', CT_RESOURCE)).toEqual(ct);
    expect(await hospital.level('pharmacy', DRUG_RESOURCE)).toEqual(drug);
    const searched = await fhir<Bundle<CarePlan>>(`/CarePlan?status=revoked&_count=100`);
    expect(searched.body.entry?.map((e) => e.resource?.id)).toContain(location.split('/').pop());
  });
});

describe('a plan booked in quota-saga mode', () => {
  const waitFor = async (what: () => Promise<boolean>) => {
    const deadline = Date.now() + 20_000;
    while (!(await what())) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the completion events');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  it('ends active (201) with nothing taken yet; its completion events then apply each reservation once', async () => {
    const slotIds = takeSlots(2);
    const drug = await hospital.level('pharmacy', DRUG_RESOURCE);
    const created = await post(plan({}, slotIds), 'quota-saga');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ resourceType: 'CarePlan', status: 'active' });
    const gtid = created.headers.get('x-gtid') ?? '';
    const [saga] = await hospital.carePlans.db.query<{ state: string }>(
      'SELECT state FROM tx_quota_saga WHERE gtid = $1',
      [gtid],
    );
    expect(saga).toEqual({ state: 'completed' });
    // The participants' commit-sync consumers apply the completion events (outbox → RabbitMQ → inbox).
    await waitFor(async () => (await hospital.claims('pharmacy', gtid)).length === 1);
    await waitFor(async () => (await hospital.claims('appointments', gtid)).length === 2);
    await waitFor(async () => (await hospital.claims('pacs', gtid)).length === 1);
    await expectApplied(gtid, 'quota-saga', slotIds, 30);
    expect((await hospital.level('pharmacy', DRUG_RESOURCE))?.taken).toBe((drug?.taken ?? 0) + 30);
  });

  it('a plan the pharmacy cannot stock is revoked (409) with nothing ever applied in any database', async () => {
    const slotIds = takeSlots(2);
    const drug = await hospital.level('pharmacy', DRUG_RESOURCE);
    const refused = await post(
      plan({ regimen: { drugCode: DRUG, locationId: WARD, quantity: 10_000 } }, slotIds),
      'quota-saga',
    );
    const outcome = expectOutcome(refused, 409, 'conflict');
    expect(outcome.issue?.[0]?.diagnostics).toMatch(/step regimen failed/);
    const gtid = refused.headers.get('x-gtid') ?? '';
    const revoked = await call<CarePlan>(refused.headers.get('location') ?? '');
    expect(revoked.body.status).toBe('revoked');
    for (const participant of ['appointments', 'pacs', 'pharmacy'] as const)
      expect(await hospital.claims(participant, gtid)).toEqual([]);
    for (const slotId of slotIds)
      expect(await hospital.level('appointments', `slot:${slotId}`)).toMatchObject({ taken: 0, held: 0 });
    expect((await hospital.level('pharmacy', DRUG_RESOURCE))?.taken).toBe(drug?.taken);
  });
});

describe('plans racing for one slot', () => {
  it('book it once: one plan active, the others revoked with nothing left behind, whatever their modes', async () => {
    const [contested] = takeSlots(1);
    const modes = ['saga', 'tcc', 'saga', 'tcc', 'saga', 'tcc', 'saga', 'tcc'];
    const replies = await Promise.all(
      modes.map((mode) =>
        post(
          carePlanExample({
            patientId: PATIENT,
            careTeamId: teamId,
            consults: [{ slotId: contested, practitionerId: PRACTITIONERS[0] }],
            regimen: { drugCode: DRUG, locationId: WARD, quantity: 1 },
          }),
          mode,
        ),
      ),
    );
    expect(replies.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    expect(await hospital.level('appointments', `slot:${contested}`)).toMatchObject({ taken: 1, held: 0 });
    for (const reply of replies.filter((r) => r.status === 409)) {
      const gtid = reply.headers.get('x-gtid') ?? '';
      for (const participant of ['appointments', 'pharmacy'] as const)
        for (const claim of await hospital.claims(participant, gtid)) expect(claim.state).toBe('released');
    }
  });
});

describe('the transaction mode', () => {
  it('is chosen by ?_mode= or the x-transaction-mode header, TCC by default; an unknown one is a 400', async () => {
    const byHeader = await post(plan(), undefined, { 'x-transaction-mode': 'saga' });
    expect(byHeader.status).toBe(201);
    const [sagaRow] = await hospital.carePlans.db.query<{ mode: string }>(
      'SELECT mode FROM care_plan WHERE plan_id = $1',
      [byHeader.body.id],
    );
    expect(sagaRow?.mode).toBe('saga');
    const byDefault = await post(plan());
    expect(byDefault.status).toBe(201);
    const [tccRow] = await hospital.carePlans.db.query<{ mode: string }>(
      'SELECT mode FROM care_plan WHERE plan_id = $1',
      [byDefault.body.id],
    );
    expect(tccRow?.mode).toBe('tcc');
    const before = await carePlanRows();
    expectOutcome(await post(plan(), '2pc'), 400, 'invalid');
    expectOutcome(await post(plan(), 'saga', { 'x-transaction-mode': 'tcc' }), 400, 'invalid');
    expect(await carePlanRows()).toEqual(before);
  });
});

describe('a bad plan', () => {
  const cases: [string, () => CarePlan, number, string, string][] = [
    [
      'names another patient than its team',
      () => plan({ patientId: OTHER_PATIENT }),
      422,
      'business-rule',
      'CarePlan.subject',
    ],
    [
      'names an unknown care team',
      () => plan({ careTeamId: 'no-such-team' }),
      422,
      'not-found',
      'CarePlan.careTeam',
    ],
    [
      'has a consult by a practitioner who is not in the team',
      () =>
        carePlanExample({
          patientId: PATIENT,
          careTeamId: teamId,
          consults: [{ slotId: takeSlots(1)[0], practitionerId: PRACTITIONERS[2] }],
        }),
      422,
      'business-rule',
      'CarePlan.activity[0].detail.performer',
    ],
    [
      'takes an unknown slot',
      () => plan({}, [takeSlots(1)[0], '3f1e0b1c-0000-4000-8000-000000000000']),
      422,
      'not-found',
      'CarePlan.activity[1]',
    ],
    [
      'asks for an unknown drug',
      () => plan({ regimen: { drugCode: '999999', locationId: WARD, quantity: 1 } }),
      422,
      'not-found',
      'CarePlan.activity[3]',
    ],
    [
      'asks for a drug at an unknown location',
      () => plan({ regimen: { drugCode: DRUG, locationId: 'ward-9z', quantity: 1 } }),
      422,
      'not-found',
      'CarePlan.activity[3]',
    ],
    [
      'asks for an unknown modality',
      () => plan({ imaging: { modality: 'QQ', day: DAY } }),
      422,
      'not-found',
      'CarePlan.activity[2]',
    ],
    [
      'asks for a day the modality does not offer',
      () => plan({ imaging: { modality: 'CT', day: '2031-01-01' } }),
      422,
      'not-found',
      'CarePlan.activity[2]',
    ],
    [
      'asks for an impossible quantity',
      () => plan({ regimen: { drugCode: DRUG, locationId: WARD, quantity: 20_000 } }),
      400,
      'invalid',
      'CarePlan.activity[3].detail.quantity.value',
    ],
    [
      'is not valid FHIR',
      () => ({ ...plan(), status: 'bogus' as CarePlan['status'] }),
      400,
      'code-invalid',
      '',
    ],
  ];

  it.each(cases.map(([what, body, status, code, element]) => [what, status, body, code, element] as const))(
    'that %s gets a %i and reserves nothing',
    async (_what, status, body, code, element) => {
      const built = body();
      const slotIds = (built.activity ?? []).flatMap((a) =>
        (a.detail?.extension ?? []).flatMap((e) => (e.valueReference?.reference ?? '').replace('Slot/', '')),
      );
      const levels = async () =>
        Promise.all([
          hospital.level('pacs', CT_RESOURCE),
          hospital.level('pharmacy', DRUG_RESOURCE),
          ...slotIds.map((s) => hospital.level('appointments', `slot:${s}`)),
        ]);
      const before = { rows: await carePlanRows(), levels: await levels() };
      for (const mode of ['saga', 'tcc', 'quota-saga']) {
        const reply = await post(built, mode);
        const outcome = expectOutcome(reply, status, code);
        if (element !== '') expect(outcome.issue?.[0]?.expression).toContain(element);
        expect(reply.headers.get('x-gtid')).toBeNull();
      }
      expect({ rows: await carePlanRows(), levels: await levels() }).toEqual(before);
    },
  );
});
