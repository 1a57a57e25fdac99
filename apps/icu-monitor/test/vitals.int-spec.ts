import type { AddressInfo } from 'node:net';
import type { Bundle, Flag, Observation, OperationOutcome, RiskAssessment } from '@medplum/fhirtypes';
import type { INestApplication } from '@nestjs/common';
import { FhirExceptionFilter } from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { icuMonitorConfig } from '../src/config';
import { migrations } from '../src/database/migrations';
import { IcuMonitorModule } from '../src/icu-monitor.module';
import { ACVPU_SYSTEM, LOINC, OBSERVATION_CATEGORY, UCUM } from '../src/vitals/vital-codes';
import { NEWS2_TOTAL } from '../src/vitals/news2-assessment';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * The ICU monitor over real HTTP on a fresh database: beds and admissions, vitals one by one and in batch
 * Bundles, NEWS2 recorded as RiskAssessments and escalation Flags in each vital's transaction, refusals
 * that write nothing, and concurrent vitals of one patient that open one alert.
 */
jest.setTimeout(60_000);

interface Reply<T = Record<string, unknown>> {
  status: number;
  contentType: string | null;
  body: T;
}

let base: string;

async function call<T = Record<string, unknown>>(
  path: string,
  init: { method?: string; body?: unknown; type?: string } = {},
): Promise<Reply<T>> {
  const response = await fetch(`${base}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      authorization: testAuthorizationFor(path),
      ...(init.body === undefined ? {} : { 'content-type': init.type ?? 'application/fhir+json' }),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: (text === '' ? {} : JSON.parse(text)) as T,
  };
}

const admit = (bedId: string, patientId: string, spo2Scale: number) =>
  call(`/api/beds/${bedId}/admission`, {
    method: 'PUT',
    body: { patientId, spo2Scale },
    type: 'application/json',
  });

/** The vitals of the spec, by the parameter each scores; `value` in the code's UCUM unit, or an ACVPU level. */
const CODES = {
  pulse: ['8867-4', '/min'],
  respirationRate: ['9279-1', '/min'],
  spo2: ['59408-5', '%'],
  temperature: ['8310-5', 'Cel'],
  systolicBp: ['8480-6', 'mm[Hg]'],
  onOxygen: ['3151-8', 'L/min'],
} as const;

const T0 = Date.now() - 3_600_000;
/** A time `minute` minutes into the spec's hour (all in the past). */
const at = (minute: number): string => new Date(T0 + minute * 60_000).toISOString();

function vital(
  patientId: string,
  bedId: string,
  parameter: keyof typeof CODES | 'consciousness',
  value: number | string,
  minute: number,
  overrides: Partial<Observation> = {},
): Observation {
  const observation: Observation = {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'vital-signs' }] }],
    code: {
      coding: [{ system: LOINC, code: parameter === 'consciousness' ? '67775-7' : CODES[parameter][0] }],
    },
    subject: { reference: `Patient/${patientId}` },
    device: { reference: `Device/${bedId}` },
    effectiveDateTime: at(minute),
  };
  if (parameter === 'consciousness') {
    observation.valueCodeableConcept = { coding: [{ system: ACVPU_SYSTEM, code: String(value) }] };
  } else {
    const unit = CODES[parameter][1];
    observation.valueQuantity = { value: Number(value), unit, system: UCUM, code: unit };
  }
  return { ...observation, ...overrides };
}

/**
 * A deterioration and recovery step by step: [parameter, value, NEWS2 total after it (undefined: no
 * change, no assessment), open alert levels]. Step i is taken at minute i + 1.
 */
const DETERIORATION: [Parameters<typeof vital>[2], number | string, number | undefined, string[]][] = [
  ['respirationRate', 16, 0, []],
  ['spo2', 97, 0, []],
  ['onOxygen', 0, 0, []],
  ['systolicBp', 125, 0, []],
  ['pulse', 80, 0, []],
  ['consciousness', 'A', 0, []],
  ['temperature', 37.0, 0, []],
  ['pulse', 95, 1, []], // 91–110: 1
  ['respirationRate', 22, 3, []], // 21–24: 2
  ['temperature', 38.5, 4, []], // 38.1–39.0: 1
  ['spo2', 94, 5, ['news2-urgent']], // 94–95: 1 → aggregate 5: urgent
  ['pulse', 98, undefined, ['news2-urgent']], // still 1: no new assessment, no second alert
  ['systolicBp', 105, 6, ['news2-urgent']], // 101–110: 1
  ['onOxygen', 2, 8, ['news2-emergency', 'news2-urgent']], // on oxygen: 2 → 8: emergency
  ['onOxygen', 0, 6, ['news2-urgent']], // back on air: emergency closes
  ['respirationRate', 16, 4, []], // 12–20: 0 → 4, no single 3: urgent closes
];

const totalOf = (assessment: RiskAssessment): number | undefined =>
  assessment.extension?.find((e) => e.url === NEWS2_TOTAL)?.valueInteger;

async function assessmentsOf(patientId: string): Promise<RiskAssessment[]> {
  const found = await call<Bundle<RiskAssessment>>(
    `/fhir/RiskAssessment?patient=Patient/${patientId}&_sort=date&_count=100`,
  );
  expect(found.status).toBe(200);
  return (found.body.entry ?? []).map((e) => e.resource as RiskAssessment);
}

async function flagsOf(patientId: string): Promise<Flag[]> {
  const found = await call<Bundle<Flag>>(`/fhir/Flag?patient=Patient/${patientId}&_sort=date&_count=100`);
  expect(found.status).toBe(200);
  return (found.body.entry ?? []).map((e) => e.resource as Flag);
}

const openFlagCodes = async (patientId: string): Promise<string[]> =>
  (await flagsOf(patientId))
    .filter((flag) => flag.status === 'active')
    .map((flag) => flag.code.coding?.[0]?.code ?? '')
    .sort();

describe('ICU monitor', () => {
  let app: INestApplication;
  let db: Database;
  let drop: () => Promise<void>;

  /** Row counts of every table a vital writes. */
  const snapshot = async () =>
    (
      await db.query<Record<string, number>>(
        `SELECT (SELECT count(*)::int FROM fhir_resource) AS resources,
                (SELECT count(*)::int FROM fhir_resource_history) AS history,
                (SELECT count(*)::int FROM fhir_search_index) AS index_rows,
                (SELECT count(*)::int FROM icu_latest_vital) AS latest,
                (SELECT count(*)::int FROM icu_news2_state) AS states`,
      )
    )[0];

  beforeAll(async () => {
    const created = await createTestDatabase('icu-monitor', migrations);
    drop = created.drop;
    db = new Database(created.settings, 'icu-monitor-test');
    const config = icuMonitorConfig({
      ...process.env,
      PGDATABASE: created.settings.database,
      LOG_LEVEL: 'error',
    });
    app = await createServiceApp(IcuMonitorModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}`;
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  describe('beds', () => {
    it('lists the unit’s twelve beds, empty', async () => {
      const beds = await call<{ bedId: string; patientId: string | null }[]>('/api/beds');
      expect(beds.status).toBe(200);
      expect(beds.body.map((b) => b.bedId)).toEqual(
        Array.from({ length: 12 }, (_, i) => `ICU-${String(i + 1).padStart(2, '0')}`),
      );
      expect(beds.body.every((b) => b.patientId === null)).toBe(true);
    });

    it('admits a patient, changes their SpO2 scale, refuses a second bed or a taken bed, discharges', async () => {
      const admitted = await admit('ICU-12', 'pat-beds', 1);
      expect(admitted.status).toBe(200);
      expect(admitted.body).toMatchObject({ bedId: 'ICU-12', patientId: 'pat-beds', spo2Scale: 1 });
      const since = admitted.body.admittedAt;
      const rescaled = await admit('ICU-12', 'pat-beds', 2);
      expect(rescaled.body).toMatchObject({ spo2Scale: 2, admittedAt: since });

      const elsewhere = await admit('ICU-11', 'pat-beds', 1);
      expect(elsewhere.status).toBe(409);
      expect(elsewhere.contentType).toContain('application/problem+json');
      expect(elsewhere.body.type).toBe('urn:hospital:problem:beds:patient-in-another-bed');
      const taken = await admit('ICU-12', 'pat-other', 1);
      expect(taken.status).toBe(409);
      expect(taken.body.type).toBe('urn:hospital:problem:beds:bed-occupied');

      const discharged = await call('/api/beds/ICU-12/admission', { method: 'DELETE' });
      expect(discharged.status).toBe(200);
      expect(discharged.body).toEqual({
        bedId: 'ICU-12',
        patientId: null,
        spo2Scale: null,
        admittedAt: null,
      });
      expect((await call('/api/beds/ICU-12/admission', { method: 'DELETE' })).status).toBe(200);
      expect((await admit('ICU-11', 'pat-beds', 1)).status).toBe(200);
      expect((await call('/api/beds/ICU-11/admission', { method: 'DELETE' })).status).toBe(200);
    });

    it.each([
      ['an SpO2 scale of 3', { patientId: 'pat-x', spo2Scale: 3 }],
      ['an SpO2 scale as text', { patientId: 'pat-x', spo2Scale: '1' }],
      ['no patient', { spo2Scale: 1 }],
      ['a patient id that is no FHIR id', { patientId: 'pat x/1', spo2Scale: 1 }],
      ['an unknown field', { patientId: 'pat-x', spo2Scale: 1, ward: '3a' }],
    ])('answers %s with a 400 problem and admits no one', async (_name, body) => {
      const refused = await call('/api/beds/ICU-10/admission', {
        method: 'PUT',
        body,
        type: 'application/json',
      });
      expect(refused.status).toBe(400);
      expect(refused.contentType).toContain('application/problem+json');
      const beds = await call<{ bedId: string; patientId: string | null }[]>('/api/beds');
      expect(beds.body.find((b) => b.bedId === 'ICU-10')?.patientId).toBeNull();
    });

    it('answers an unknown bed with 404 and a malformed bed id with 400', async () => {
      expect((await admit('ICU-99', 'pat-x', 1)).status).toBe(404);
      expect((await admit('ICU_01', 'pat-x', 1)).status).toBe(400);
      expect((await call('/api/beds/ICU-99/admission', { method: 'DELETE' })).status).toBe(404);
    });
  });

  describe('a deteriorating patient', () => {
    const patient = 'pat-deteriorating';
    const post = (parameter: Parameters<typeof vital>[2], value: number | string, minute: number) =>
      call<Observation>('/fhir/Observation', { body: vital(patient, 'ICU-01', parameter, value, minute) });

    beforeAll(async () => {
      expect((await admit('ICU-01', patient, 1)).status).toBe(200);
    });

    it('is scored vital by vital: RiskAssessments follow NEWS2, alerts open and close at the right vitals', async () => {
      const steps = DETERIORATION;
      let assessments = 0;
      for (const [i, [parameter, value, total, open]] of steps.entries()) {
        const created = await post(parameter, value, i + 1);
        expect(created.status).toBe(201);
        const recorded = await assessmentsOf(patient);
        if (total !== undefined) assessments += 1;
        expect({ step: i, count: recorded.length }).toEqual({ step: i, count: assessments });
        if (total !== undefined) {
          const latest = recorded[recorded.length - 1];
          expect({ step: i, total: totalOf(latest) }).toEqual({ step: i, total });
          expect(latest.basis).toContainEqual({ reference: `Observation/${created.body.id}` });
        }
        expect({ step: i, open: await openFlagCodes(patient) }).toEqual({ step: i, open });
      }

      // Two alerts were raised and both closed: each a Flag at version 2, inactive, its period ended.
      const flags = await flagsOf(patient);
      expect(flags.map((f) => [f.code.coding?.[0]?.code, f.status, f.meta?.versionId])).toEqual([
        ['news2-urgent', 'inactive', '2'],
        ['news2-emergency', 'inactive', '2'],
      ]);
      const [urgent, emergency] = flags;
      expect(urgent.period).toEqual({ start: at(11), end: at(16) });
      expect(emergency.period).toEqual({ start: at(14), end: at(15) });
      // The emergency Flag points at the RiskAssessment that raised it: the one scoring 8.
      const detail = emergency.extension?.[0]?.valueReference?.reference ?? '';
      const raised = await call<RiskAssessment>(`/fhir/${detail}`);
      expect(totalOf(raised.body)).toBe(8);
      expect(raised.body.prediction?.[0]?.qualitativeRisk?.coding?.[0]?.code).toBe('high');
    });

    it('stores a late vital but keeps the newer reading as the latest', async () => {
      const before = await assessmentsOf(patient);
      const late = await post('pulse', 140, 0); // older than the pulse of minute 12
      expect(late.status).toBe(201);
      expect(await assessmentsOf(patient)).toHaveLength(before.length);
      const [pulse] = await db.query<{ value: number; observation_id: string }>(
        `SELECT value, observation_id FROM icu_latest_vital WHERE patient_id = $1 AND parameter = 'pulse'`,
        [patient],
      );
      expect(pulse.value).toBe(98);
      expect(pulse.observation_id).not.toBe(late.body.id);
      const stored = await call<Bundle>(`/fhir/Observation?patient=Patient/${patient}&code=${LOINC}|8867-4`);
      expect(stored.body.entry?.map((e) => e.resource?.id)).toContain(late.body.id);
    });
  });

  it('raises an urgent alert on a single parameter scoring 3 (new confusion) and closes it when alert again', async () => {
    const patient = 'pat-confused';
    expect((await admit('ICU-02', patient, 1)).status).toBe(200);
    const post = (value: string, minute: number) =>
      call('/fhir/Observation', { body: vital(patient, 'ICU-02', 'consciousness', value, minute) });
    expect((await post('C', 1)).status).toBe(201);
    expect(totalOf((await assessmentsOf(patient))[0])).toBe(3);
    expect(await openFlagCodes(patient)).toEqual(['news2-urgent']);
    expect((await post('A', 2)).status).toBe(201);
    expect(await openFlagCodes(patient)).toEqual([]);
  });

  it('scores SpO2 on the patient’s scale 2: 97 % on oxygen is over-oxygenation, 3 + 2', async () => {
    const patient = 'pat-copd';
    expect((await admit('ICU-05', patient, 2)).status).toBe(200);
    for (const [parameter, value, minute] of [
      ['onOxygen', 4, 1],
      ['spo2', 97, 2],
    ] as const) {
      expect(
        (await call('/fhir/Observation', { body: vital(patient, 'ICU-05', parameter, value, minute) }))
          .status,
      ).toBe(201);
    }
    const recorded = await assessmentsOf(patient);
    expect(totalOf(recorded[recorded.length - 1])).toBe(5);
    expect(await openFlagCodes(patient)).toEqual(['news2-urgent']);
  });

  it('answers a batch entry by entry: the bad vital gets its own 4xx, the good ones are stored', async () => {
    const patient = 'pat-batch';
    expect((await admit('ICU-03', patient, 1)).status).toBe(200);
    const entry = (resource: object, url = 'Observation') => ({ resource, request: { method: 'POST', url } });
    const batch = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        entry(vital(patient, 'ICU-03', 'pulse', 88, 1)),
        entry(vital(patient, 'ICU-03', 'respirationRate', 18, 1)),
        entry(vital(patient, 'ICU-03', 'spo2', 101, 1)),
        entry(vital(patient, 'ICU-03', 'temperature', 37.2, 1)),
        entry(vital(patient, 'ICU-99', 'pulse', 80, 1)),
        entry(
          {
            resourceType: 'Flag',
            status: 'active',
            code: { text: 'x' },
            subject: { reference: `Patient/${patient}` },
          },
          'Flag',
        ),
      ],
    };
    const answer = await call<Bundle>('/fhir', { body: batch });
    expect(answer.status).toBe(200);
    expect(answer.body.type).toBe('batch-response');
    const statuses = answer.body.entry?.map((e) => e.response?.status);
    expect(statuses).toEqual([
      '201 Created',
      '201 Created',
      '400 Bad Request',
      '201 Created',
      '422 Unprocessable Entity',
      '405 Method Not Allowed',
    ]);
    const outcome = answer.body.entry?.[2]?.response?.outcome as OperationOutcome;
    expect(outcome.issue[0]?.expression).toEqual(['Observation.valueQuantity.value']);
    const stored = await call<Bundle<Observation>>(
      `/fhir/Observation?patient=Patient/${patient}&_total=accurate`,
    );
    expect(stored.body.total).toBe(3);
    expect(stored.body.entry?.map((e) => e.resource?.code.coding?.[0]?.code).sort()).toEqual([
      '8310-5',
      '8867-4',
      '9279-1',
    ]);
    expect((await flagsOf(patient)).length).toBe(0);
  });

  describe('refuses with a 4xx OperationOutcome, writing nothing anywhere', () => {
    const patient = 'pat-refused';
    beforeAll(async () => {
      expect((await admit('ICU-06', patient, 1)).status).toBe(200);
      expect((await admit('ICU-07', 'pat-neighbour', 1)).status).toBe(200);
    });
    const ok = (overrides: Partial<Observation> = {}) => vital(patient, 'ICU-06', 'pulse', 88, 5, overrides);
    const unit = (value: number, code: string) => ({ value, unit: code, system: UCUM, code });

    it.each<[string, unknown, number]>([
      ['an unknown code', ok({ code: { coding: [{ system: LOINC, code: '29463-7' }] } }), 400],
      ['a wrong unit', ok({ valueQuantity: unit(88, 'Hz') }), 400],
      ['a heart rate of −5', ok({ valueQuantity: unit(-5, '/min') }), 400],
      ['a heart rate of 400', ok({ valueQuantity: unit(400, '/min') }), 400],
      ['an SpO2 above 100 %', vital(patient, 'ICU-06', 'spo2', 101, 5), 400],
      ['a temperature of 60 °C', vital(patient, 'ICU-06', 'temperature', 60, 5), 400],
      ['a missing subject', ok({ subject: undefined }), 400],
      ['a missing effectiveDateTime', ok({ effectiveDateTime: undefined }), 400],
      ['a missing bed', ok({ device: undefined }), 400],
      ['an unknown bed', ok({ device: { reference: 'Device/ICU-99' } }), 422],
      ['a bed holding another patient', ok({ device: { reference: 'Device/ICU-07' } }), 422],
      ['an empty bed', ok({ device: { reference: 'Device/ICU-09' } }), 422],
      ['invalid FHIR', ok({ status: 'measured' as Observation['status'] }), 400],
      [
        'a Flag',
        { resourceType: 'Flag', status: 'active', code: { text: 'x' }, subject: { reference: 'Patient/p' } },
        405,
      ],
    ])('%s', async (_name, body, status) => {
      const before = await snapshot();
      const type = (body as { resourceType: string }).resourceType;
      const refused = await call<OperationOutcome>(`/fhir/${type}`, { body });
      expect(refused.status).toBe(status);
      expect(refused.contentType).toContain('application/fhir+json');
      expect(refused.body.resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(refused.body)).not.toContain(patient);
      expect(await snapshot()).toEqual(before);
    });

    it('and the same vital, put right, is accepted', async () => {
      expect((await call('/fhir/Observation', { body: ok() })).status).toBe(201);
    });
  });

  it('opens exactly one alert for a patient whose two escalating vitals arrive at the same time', async () => {
    // Each round a new patient in ICU-08: a heart rate of 135 and a respiratory rate of 26 each score 3
    // (urgent on their own), 6 together (still urgent only). Both race for the patient's alert.
    for (let round = 1; round <= 5; round++) {
      const patient = `pat-pair-${round}`;
      expect((await admit('ICU-08', patient, 1)).status).toBe(200);
      const answers = await Promise.all(
        [vital(patient, 'ICU-08', 'pulse', 135, 1), vital(patient, 'ICU-08', 'respirationRate', 26, 1)].map(
          (body) => call('/fhir/Observation', { body }),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual([201, 201]);
      expect(await flagsOf(patient)).toHaveLength(1);
      expect(await openFlagCodes(patient)).toEqual(['news2-urgent']);
      // Both readings share their time: one assessment scores the first to commit (3), the next both (6).
      expect((await assessmentsOf(patient)).map(totalOf).sort()).toEqual([3, 6]);
      expect((await call('/api/beds/ICU-08/admission', { method: 'DELETE' })).status).toBe(200);
    }
  });

  it('scores a deterioration sent as one batch Bundle (vitals sharing transactions) as it scores it vital by vital', async () => {
    const patient = 'pat-grouped';
    expect((await admit('ICU-09', patient, 1)).status).toBe(200);
    const batch = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: DETERIORATION.map(([parameter, value], i) => ({
        resource: vital(patient, 'ICU-09', parameter, value, i + 1),
        request: { method: 'POST', url: 'Observation' },
      })),
    };
    const answer = await call<Bundle>('/fhir', { body: batch });
    expect(answer.status).toBe(200);
    expect(answer.body.entry?.map((e) => e.response?.status)).toEqual(DETERIORATION.map(() => '201 Created'));
    // The same RiskAssessments as one vital per request: a score carried from vital to vital in the group.
    expect((await assessmentsOf(patient)).map(totalOf)).toEqual(
      DETERIORATION.flatMap(([, , total]) => (total === undefined ? [] : [total])),
    );
    const flags = await flagsOf(patient);
    expect(flags.map((f) => [f.code.coding?.[0]?.code, f.status, f.period])).toEqual([
      ['news2-urgent', 'inactive', { start: at(11), end: at(16) }],
      ['news2-emergency', 'inactive', { start: at(14), end: at(15) }],
    ]);
    const latest = await db.query<{ parameter: string; value: number }>(
      `SELECT parameter, value FROM icu_latest_vital WHERE patient_id = $1 ORDER BY parameter`,
      [patient],
    );
    expect(latest).toHaveLength(7);
    expect(latest.find((l) => l.parameter === 'respirationRate')?.value).toBe(16);
  });

  it('opens one alert per level for a patient whose vitals all arrive at once', async () => {
    const patient = 'pat-concurrent';
    expect((await admit('ICU-04', patient, 1)).status).toBe(200);
    // Each of these scores 3 on its own: whichever commits first opens the alert, the rest find it open.
    const vitals = [
      vital(patient, 'ICU-04', 'pulse', 135, 1),
      vital(patient, 'ICU-04', 'respirationRate', 26, 1),
      vital(patient, 'ICU-04', 'systolicBp', 85, 1),
      vital(patient, 'ICU-04', 'temperature', 34.5, 1),
      vital(patient, 'ICU-04', 'spo2', 90, 1),
      vital(patient, 'ICU-04', 'consciousness', 'V', 1),
    ];
    const answers = await Promise.all(vitals.map((body) => call('/fhir/Observation', { body })));
    expect(answers.map((a) => a.status)).toEqual(vitals.map(() => 201));
    expect(await openFlagCodes(patient)).toEqual(['news2-emergency', 'news2-urgent']);
    expect(await flagsOf(patient)).toHaveLength(2);
    const recorded = await assessmentsOf(patient);
    expect(recorded).toHaveLength(6);
    expect(Math.max(...recorded.map((r) => totalOf(r) ?? 0))).toBe(18);
    const [state] = await db.query<{ total: number }>(
      `SELECT total FROM icu_news2_state WHERE patient_id = $1`,
      [patient],
    );
    expect(state.total).toBe(18);
  });
});
