import type { Bundle, OperationOutcome, Schedule, Slot } from '@medplum/fhirtypes';
import {
  at,
  type AppointmentsUnderTest,
  call,
  counts,
  type Reply,
  schedule,
  SERVICE_TYPE_SYSTEM,
  slot,
  startAppointments,
} from './support/appointments-client';

/**
 * Schedules and slots over real HTTP on a fresh database: created by staff as FHIR resources with their
 * rows; a slot outside its schedule's horizon, of a service it does not offer, or overlapping another slot
 * of the schedule refused (the overlap by the exclusion constraint, also among concurrent creates); every
 * refusal an OperationOutcome that writes nothing. Each slot created is registered as reservable capacity.
 */
jest.setTimeout(120_000);

let svc: AppointmentsUnderTest;
const post = <T = Record<string, unknown>>(path: string, body: unknown) => call<T>(svc.base, path, { body });

function expectOutcome(reply: Reply<unknown>, status: number, issue: string): void {
  expect(reply.status).toBe(status);
  expect(reply.contentType).toContain('application/fhir+json');
  const outcome = reply.body as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue?.[0]?.code).toBe(issue);
}

async function createSchedule(practitionerId: string, services?: string[]): Promise<string> {
  const created = await post<Schedule & { id: string }>('/fhir/Schedule', schedule(practitionerId, services));
  expect(created.status).toBe(201);
  return created.body.id;
}

beforeAll(async () => {
  svc = await startAppointments();
}, 120_000);

afterAll(async () => {
  await svc?.close();
});

describe('schedules', () => {
  it('creates a Schedule with its row, searchable by actor and service type', async () => {
    const before = await counts(svc.db);
    const id = await createSchedule('prac-sched', ['57', '58']);
    const [row] = await svc.db.query<{ practitioner_id: string; service_codes: string[] }>(
      'SELECT practitioner_id, service_codes FROM appointment_schedule WHERE schedule_id = $1',
      [id],
    );
    expect(row).toEqual({ practitioner_id: 'prac-sched', service_codes: ['57', '58'] });
    expect((await counts(svc.db)).schedules - before.schedules).toBe(1);
    const found = await call<Bundle<Schedule>>(
      svc.base,
      '/fhir/Schedule?actor=Practitioner/prac-sched&service-type=58',
    );
    expect(found.body.entry?.map((e) => e.resource?.id)).toEqual([id]);
  });

  it.each<[string, Partial<Schedule>, string]>([
    ['no actor (R4: 1..*)', { actor: undefined }, 'structure'],
    ['a Location as actor', { actor: [{ reference: 'Location/room-1' }] }, 'required'],
    [
      'two practitioners',
      { actor: [{ reference: 'Practitioner/a' }, { reference: 'Practitioner/b' }] },
      'required',
    ],
    ['no service type', { serviceType: undefined }, 'required'],
    ['a service type without a code', { serviceType: [{ text: 'general practice' }] }, 'required'],
    ['no planning horizon', { planningHorizon: undefined }, 'required'],
    ['a horizon of dates only', { planningHorizon: { start: '2026-12-07', end: '2026-12-08' } }, 'required'],
    [
      'a horizon ending before it starts',
      { planningHorizon: { start: at('18:00'), end: at('08:00') } },
      'required',
    ],
  ])('refuses a Schedule with %s: 400, nothing written', async (_, overrides, issue) => {
    const before = await counts(svc.db);
    expectOutcome(await post('/fhir/Schedule', schedule('prac-bad', ['57'], overrides)), 400, issue);
    expect(await counts(svc.db)).toEqual(before);
  });
});

describe('slots', () => {
  let scheduleId: string;

  beforeAll(async () => {
    scheduleId = await createSchedule('prac-slots', ['57', '58']);
  });

  it('creates slots with their rows; a slot may start where another ends', async () => {
    const first = await post<Slot & { id: string }>('/fhir/Slot', slot(scheduleId, '09:00', '09:15'));
    expect(first.status).toBe(201);
    const adjacent = await post<Slot & { id: string }>('/fhir/Slot', slot(scheduleId, '09:15', '09:30'));
    expect(adjacent.status).toBe(201);
    const rows = await svc.db.query<{ slot_id: string; practitioner_id: string; status: string }>(
      'SELECT slot_id, practitioner_id, status FROM appointment_slot WHERE schedule_id = $1 ORDER BY start_at',
      [scheduleId],
    );
    expect(rows).toEqual([
      { slot_id: first.body.id, practitioner_id: 'prac-slots', status: 'free' },
      { slot_id: adjacent.body.id, practitioner_id: 'prac-slots', status: 'free' },
    ]);
  });

  it('registers each slot as reservable capacity in its transaction: one consult if free, none if busy', async () => {
    const free = await post<Slot & { id: string }>('/fhir/Slot', slot(scheduleId, '16:00', '16:15'));
    const busy = await post<Slot & { id: string }>(
      '/fhir/Slot',
      slot(scheduleId, '16:15', '16:30', { status: 'busy' }),
    );
    expect([free.status, busy.status]).toEqual([201, 201]);
    expect(await call(svc.base, `/api/capacity/resources/slot:${free.body.id}`)).toMatchObject({
      status: 200,
      body: { resource: `slot:${free.body.id}`, capacity: 1, taken: 0, available: 1 },
    });
    expect(await call(svc.base, `/api/capacity/resources/slot:${busy.body.id}`)).toMatchObject({
      status: 200,
      body: { capacity: 0, available: 0 },
    });
    // A plan's saga reserves the free slot once; the slot has no second consult to give.
    const apply = (gtid: string) =>
      call(svc.base, '/api/capacity/saga/apply', {
        type: 'application/json',
        body: { key: `${gtid}:consult`, gtid, resource: `slot:${free.body.id}`, units: 1 },
      });
    expect((await apply('g-slot-plan')).status).toBe(200);
    expect((await apply('g-slot-other')).status).toBe(409);
    // Resources of another kind are not the appointments service's.
    expect(
      (
        await call(svc.base, '/api/capacity/resources/imaging:CT:2026-12-07', {
          method: 'PUT',
          type: 'application/json',
          body: { capacity: 1 },
        })
      ).status,
    ).toBe(400);
  });

  it('refuses a slot overlapping another of the schedule with a 409; another schedule may overlap', async () => {
    expect((await post('/fhir/Slot', slot(scheduleId, '10:00', '10:30'))).status).toBe(201);
    const before = await counts(svc.db);
    for (const [start, end] of [
      ['10:00', '10:30'],
      ['10:15', '10:20'],
      ['09:50', '10:05'],
      ['10:29', '11:00'],
    ]) {
      expectOutcome(await post('/fhir/Slot', slot(scheduleId, start, end)), 409, 'conflict');
    }
    expect(await counts(svc.db)).toEqual(before);
    const other = await createSchedule('prac-slots-2');
    expect((await post('/fhir/Slot', slot(other, '10:00', '10:30'))).status).toBe(201);
  });

  it('lets one of 16 concurrent overlapping slots through (the exclusion constraint)', async () => {
    const id = await createSchedule('prac-slots-race');
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        post('/fhir/Slot', slot(id, '11:00', i % 2 === 0 ? '11:30' : '11:20')),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(15);
    const rows = await svc.db.query<{ slot_id: string }>(
      'SELECT slot_id FROM appointment_slot WHERE schedule_id = $1',
      [id],
    );
    expect(rows).toHaveLength(1);
    const capacity = await svc.db.query(`SELECT resource FROM tx_capacity WHERE resource = ANY($1::text[])`, [
      answers.map((a) => `slot:${String(a.body.id)}`),
    ]);
    expect(capacity).toEqual([{ resource: `slot:${rows[0].slot_id}` }]);
  });

  it('answers a batch Bundle of slots entry by entry: the overlapping entry refused, the others created', async () => {
    const id = await createSchedule('prac-slots-batch');
    const entries = [
      ['13:00', '13:15'],
      ['13:15', '13:30'],
      ['13:10', '13:20'],
    ].map(([start, end]) => ({ resource: slot(id, start, end), request: { method: 'POST', url: 'Slot' } }));
    const answer = await post<Bundle>('/fhir', { resourceType: 'Bundle', type: 'batch', entry: entries });
    expect(answer.status).toBe(200);
    expect(answer.body.entry?.map((e) => e.response?.status.slice(0, 3))).toEqual(['201', '201', '409']);
    const rows = await svc.db.query('SELECT 1 FROM appointment_slot WHERE schedule_id = $1', [id]);
    expect(rows).toHaveLength(2);
  });

  it.each<[string, () => unknown, number, string]>([
    ['a slot starting before the horizon', () => slot(scheduleId, '07:45', '08:15'), 422, 'business-rule'],
    ['a slot ending after the horizon', () => slot(scheduleId, '17:50', '18:10'), 422, 'business-rule'],
    [
      'a service the schedule does not offer',
      () =>
        slot(scheduleId, '12:00', '12:15', {
          serviceType: [{ coding: [{ system: SERVICE_TYPE_SYSTEM, code: '99' }] }],
        }),
      422,
      'business-rule',
    ],
    ['a schedule that does not exist', () => slot('no-such-schedule', '12:00', '12:15'), 422, 'not-found'],
    ['an end before its start', () => slot(scheduleId, '12:15', '12:00'), 400, 'invalid'],
    ['an end equal to its start', () => slot(scheduleId, '12:00', '12:00'), 400, 'invalid'],
    [
      'status busy-tentative',
      () => slot(scheduleId, '12:00', '12:15', { status: 'busy-tentative' }),
      400,
      'not-supported',
    ],
    [
      'no schedule (R4: 1..1)',
      () => slot(scheduleId, '12:00', '12:15', { schedule: undefined }),
      400,
      'structure',
    ],
    [
      'a schedule that is no Schedule reference',
      () => slot(scheduleId, '12:00', '12:15', { schedule: { reference: `Practitioner/${scheduleId}` } }),
      400,
      'required',
    ],
    [
      'no service type',
      () => slot(scheduleId, '12:00', '12:15', { serviceType: undefined }),
      400,
      'required',
    ],
    [
      'two service types',
      () =>
        slot(scheduleId, '12:00', '12:15', {
          serviceType: [{ coding: [{ code: '57' }] }, { coding: [{ code: '58' }] }],
        }),
      400,
      'required',
    ],
    [
      'a status outside R4',
      () => ({ ...slot(scheduleId, '12:00', '12:15'), status: 'open' }),
      400,
      'code-invalid',
    ],
  ])('refuses %s with its status and issue, nothing written', async (_, body, status, issue) => {
    const before = await counts(svc.db);
    expectOutcome(await post('/fhir/Slot', body()), status, issue);
    expect(await counts(svc.db)).toEqual(before);
  });

  it('offers no update or delete of schedules and slots: 405', async () => {
    const created = await post<Slot & { id: string }>('/fhir/Slot', slot(scheduleId, '15:00', '15:15'));
    const before = await counts(svc.db);
    const path = `/fhir/Slot/${created.body.id}`;
    expect(
      (await call(svc.base, path, { method: 'PUT', body: { ...created.body, status: 'busy' } })).status,
    ).toBe(405);
    expect((await call(svc.base, path, { method: 'DELETE' })).status).toBe(405);
    expect(await counts(svc.db)).toEqual(before);
  });
});
