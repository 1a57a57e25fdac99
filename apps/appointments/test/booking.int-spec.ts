import type { Appointment, Bundle, OperationOutcome, Slot } from '@medplum/fhirtypes';
import {
  appointment,
  at,
  type AppointmentsUnderTest,
  call,
  counts,
  DAY,
  type Reply,
  schedule,
  slot,
  startAppointments,
} from './support/appointments-client';

/**
 * Booking over real HTTP on a fresh database: free slots found by FHIR search and by /api/slots/free;
 * booking, a second booking of a taken slot, 64 concurrent bookings of one slot (and of a few) of which the
 * unique index lets exactly one per slot through; cancelling that frees the slot; rescheduling to a free
 * and to a taken slot; malformed and unfitting requests refused with an OperationOutcome, writing nothing.
 */
jest.setTimeout(120_000);

let svc: AppointmentsUnderTest;
const get = <T = Record<string, unknown>>(path: string) => call<T>(svc.base, path);
const post = <T = Record<string, unknown>>(path: string, body: unknown) => call<T>(svc.base, path, { body });
const put = <T = Record<string, unknown>>(path: string, body: unknown) =>
  call<T>(svc.base, path, { method: 'PUT', body });

const PRACTITIONER = 'prac-booking';

async function createSchedule(practitionerId: string, services?: string[]): Promise<string> {
  const created = await post<{ id: string }>('/fhir/Schedule', schedule(practitionerId, services));
  expect(created.status).toBe(201);
  return created.body.id;
}

/** Each slot's start and end, which an Appointment booking it repeats (R4 requires them: app-3). */
const times = new Map<string, { start: string; end: string }>();

async function createSlot(scheduleId: string, start: string, end: string, overrides: Partial<Slot> = {}) {
  const created = await post<Slot & { id: string }>('/fhir/Slot', slot(scheduleId, start, end, overrides));
  expect(created.status).toBe(201);
  times.set(created.body.id, { start: at(start), end: at(end) });
  return created.body.id;
}

/** An Appointment booking `slotId`, with the slot's times. */
const booking = (
  slotId: string,
  patientId: string,
  practitionerId: string,
  overrides: Partial<Appointment> = {},
) =>
  appointment(slotId, patientId, practitionerId, {
    ...(times.get(slotId) ?? { start: at('09:00'), end: at('09:15') }),
    ...overrides,
  });

/** The Appointment moved to `slotId`: the slot reference and its times. */
const movedTo = (current: Appointment, slotId: string): Appointment => ({
  ...current,
  slot: [{ reference: `Slot/${slotId}` }],
  ...times.get(slotId),
});

/** Bookable slots of a fresh schedule of `practitionerId`: 15 minutes each from 09:00. */
async function freshSlots(
  practitionerId: string,
  n: number,
): Promise<{ scheduleId: string; slots: string[] }> {
  const scheduleId = await createSchedule(practitionerId);
  const slots: string[] = [];
  for (let i = 0; i < n; i++) {
    const start = 9 * 60 + 15 * i;
    const hhmm = (m: number) =>
      `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
    slots.push(await createSlot(scheduleId, hhmm(start), hhmm(start + 15)));
  }
  return { scheduleId, slots };
}

const book = (slotId: string, patientId: string, practitionerId = PRACTITIONER, overrides = {}) =>
  post<Appointment & { id: string; meta: { versionId: string } }>(
    '/fhir/Appointment',
    booking(slotId, patientId, practitionerId, overrides),
  );

async function slotStatus(slotId: string): Promise<{ fhir: string; row: string }> {
  const resource = await get<Slot>(`/fhir/Slot/${slotId}`);
  const [row] = await svc.db.query<{ status: string }>(
    'SELECT status FROM appointment_slot WHERE slot_id = $1',
    [slotId],
  );
  return { fhir: resource.body.status, row: row.status };
}

function expectOutcome(reply: Reply<unknown>, status: number, issue: string): void {
  expect(reply.status).toBe(status);
  expect(reply.contentType).toContain('application/fhir+json');
  const outcome = reply.body as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue?.[0]?.code).toBe(issue);
}

beforeAll(async () => {
  svc = await startAppointments();
}, 120_000);

afterAll(async () => {
  await svc?.close();
});

describe('free slots', () => {
  it('are found by FHIR search (schedule, status, service type, day) and at /api/slots/free', async () => {
    const { scheduleId, slots } = await freshSlots('prac-search', 3);
    const other = await createSchedule('prac-search-other');
    await createSlot(other, '09:00', '09:15');
    expect((await book(slots[1], 'pat-search', 'prac-search')).status).toBe(201);

    const found = await get<Bundle<Slot>>(
      `/fhir/Slot?status=free&schedule=Schedule/${scheduleId}&service-type=57&start=ge${DAY}&start=lt2026-12-08&_sort=start`,
    );
    expect(found.status).toBe(200);
    expect(found.body.entry?.map((e) => e.resource?.id)).toEqual([slots[0], slots[2]]);
    const nextDay = await get<Bundle<Slot>>(
      `/fhir/Slot?status=free&schedule=Schedule/${scheduleId}&start=ge2026-12-08`,
    );
    expect(nextDay.body.total).toBe(0);

    const free = await get<{ slotId: string; start: string; practitioner: string }[]>(
      `/api/slots/free?practitioner=prac-search&service=57&date=${DAY}`,
    );
    expect(free.status).toBe(200);
    expect(free.body.map((s) => s.slotId)).toEqual([slots[0], slots[2]]);
    expect(free.body[0]).toMatchObject({
      start: '2026-12-07T09:00:00.000Z',
      practitioner: 'Practitioner/prac-search',
    });
    expect(
      (await get<unknown[]>(`/api/slots/free?practitioner=prac-search&service=58&date=${DAY}`)).body,
    ).toEqual([]);
    expect((await get<unknown[]>(`/api/slots/free?practitioner=prac-search&date=2026-12-08`)).body).toEqual(
      [],
    );
  });

  it.each([
    ['no practitioner', `date=${DAY}`],
    ['no date', 'practitioner=prac-search'],
    ['a malformed date', 'practitioner=prac-search&date=07-12-2026'],
    ['an unknown parameter', `practitioner=prac-search&date=${DAY}&ward=3`],
  ])('are asked for properly at /api/slots/free: %s → 400 problem', async (_, query) => {
    const refused = await get(`/api/slots/free?${query}`);
    expect(refused.status).toBe(400);
    expect(refused.contentType).toContain('application/problem+json');
  });
});

describe('booking', () => {
  it('books a free slot: 201, the slot busy in its row and its FHIR resource', async () => {
    const { slots } = await freshSlots(PRACTITIONER, 1);
    const before = await counts(svc.db);
    const booked = await book(slots[0], 'pat-1');
    expect(booked.status).toBe(201);
    expect(booked.body).toMatchObject({ status: 'booked', start: at('09:00'), end: at('09:15') });
    expect(await slotStatus(slots[0])).toEqual({ fhir: 'busy', row: 'busy' });
    const after = await counts(svc.db);
    expect(after.bookings - before.bookings).toBe(1);
    expect(after.busy_slots - before.busy_slots).toBe(1);
    const search = await get<Bundle>(`/fhir/Appointment?slot=Slot/${slots[0]}&patient=Patient/pat-1`);
    expect(search.body.total).toBe(1);
  });

  it('refuses a second booking of the slot with a 409 OperationOutcome, writing nothing', async () => {
    const { slots } = await freshSlots(PRACTITIONER, 1);
    expect((await book(slots[0], 'pat-2')).status).toBe(201);
    const before = await counts(svc.db);
    const second = await book(slots[0], 'pat-3');
    expectOutcome(second, 409, 'conflict');
    expect(await counts(svc.db)).toEqual(before);
  });

  it('lets exactly one of 64 concurrent bookings of one slot through: one 201, 63 409s, one booking row', async () => {
    const { slots } = await freshSlots('prac-race', 1);
    const before = await counts(svc.db);
    const answers = await Promise.all(
      Array.from({ length: 64 }, (_, i) => book(slots[0], `pat-race-${i}`, 'prac-race')),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(63);
    for (const refused of answers.filter((a) => a.status === 409)) expectOutcome(refused, 409, 'conflict');
    const rows = await svc.db.query('SELECT * FROM appointment_booking WHERE slot_id = $1', [slots[0]]);
    expect(rows).toHaveLength(1);
    const after = await counts(svc.db);
    expect(after.bookings - before.bookings).toBe(1);
    // One Appointment, one new version of the Slot (busy): the refused bookings left nothing behind.
    expect(after.resources - before.resources).toBe(1);
    expect(after.history - before.history).toBe(2);
    expect(await slotStatus(slots[0])).toEqual({ fhir: 'busy', row: 'busy' });
  });

  it('lets one booking per slot through when 64 concurrent bookings race for four slots', async () => {
    const { slots } = await freshSlots('prac-race-mix', 4);
    const answers = await Promise.all(
      Array.from({ length: 64 }, (_, i) => book(slots[i % 4], `pat-mix-${i}`, 'prac-race-mix')),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(4);
    expect(statuses.filter((s) => s === 409)).toHaveLength(60);
    const winners = answers.filter((a) => a.status === 201).map((a) => a.body.slot?.[0]?.reference);
    expect(new Set(winners)).toEqual(new Set(slots.map((s) => `Slot/${s}`)));
    const perSlot = await svc.db.query<{ slot_id: string; n: number }>(
      'SELECT slot_id, count(*)::int AS n FROM appointment_booking WHERE slot_id = ANY($1) GROUP BY slot_id',
      [slots],
    );
    expect(perSlot.map((r) => r.n)).toEqual([1, 1, 1, 1]);
  });
});

describe('cancelling and rescheduling', () => {
  it('cancels: the slot is free again and bookable; a repeated cancellation changes nothing', async () => {
    const { slots } = await freshSlots('prac-cancel', 1);
    const booked = await book(slots[0], 'pat-c1', 'prac-cancel');
    const cancelled = await put<Appointment & { meta: { versionId: string } }>(
      `/fhir/Appointment/${booked.body.id}`,
      { ...booked.body, status: 'cancelled' },
    );
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', meta: { versionId: '2' } });
    expect(await slotStatus(slots[0])).toEqual({ fhir: 'free', row: 'free' });
    expect((await get<unknown[]>(`/api/slots/free?practitioner=prac-cancel&date=${DAY}`)).body).toHaveLength(
      1,
    );

    const before = await counts(svc.db);
    const again = await put(`/fhir/Appointment/${booked.body.id}`, { ...booked.body, status: 'cancelled' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ meta: { versionId: '2' } });
    expect(await counts(svc.db)).toEqual(before);
    expectOutcome(await put(`/fhir/Appointment/${booked.body.id}`, booked.body), 409, 'conflict');

    const rebooked = await book(slots[0], 'pat-c2', 'prac-cancel');
    expect(rebooked.status).toBe(201);
    expect(await slotStatus(slots[0])).toEqual({ fhir: 'busy', row: 'busy' });
  });

  it('reschedules to a free slot in one transaction: the old slot freed, the new one taken', async () => {
    const { slots } = await freshSlots('prac-move', 2);
    const booked = await book(slots[0], 'pat-m1', 'prac-move');
    const moved = await put<Appointment>(
      `/fhir/Appointment/${booked.body.id}`,
      movedTo(booked.body, slots[1]),
    );
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ status: 'booked', start: at('09:15'), end: at('09:30') });
    expect(await slotStatus(slots[0])).toEqual({ fhir: 'free', row: 'free' });
    expect(await slotStatus(slots[1])).toEqual({ fhir: 'busy', row: 'busy' });
    const [row] = await svc.db.query<{ slot_id: string }>(
      'SELECT slot_id FROM appointment_booking WHERE appointment_id = $1',
      [booked.body.id],
    );
    expect(row.slot_id).toBe(slots[1]);
    expect((await book(slots[0], 'pat-m2', 'prac-move')).status).toBe(201);
  });

  it('refuses to reschedule to a taken slot with a 409, changing nothing', async () => {
    const { slots } = await freshSlots('prac-move-taken', 2);
    const mine = await book(slots[0], 'pat-t1', 'prac-move-taken');
    expect((await book(slots[1], 'pat-t2', 'prac-move-taken')).status).toBe(201);
    const before = await counts(svc.db);
    const refused = await put(`/fhir/Appointment/${mine.body.id}`, movedTo(mine.body, slots[1]));
    expectOutcome(refused, 409, 'conflict');
    expect(await counts(svc.db)).toEqual(before);
    expect(await slotStatus(slots[0])).toEqual({ fhir: 'busy', row: 'busy' });
    const current = await get<Appointment>(`/fhir/Appointment/${mine.body.id}`);
    expect(current.body).toMatchObject({
      meta: { versionId: '1' },
      slot: [{ reference: `Slot/${slots[0]}` }],
    });
  });

  it('lets one of 16 concurrent reschedulings into one free slot through', async () => {
    const { slots } = await freshSlots('prac-move-race', 17);
    const booked = await Promise.all(
      slots.slice(0, 16).map((s, i) => book(s, `pat-mr-${i}`, 'prac-move-race')),
    );
    const target = slots[16];
    const answers = await Promise.all(
      booked.map((b) => put(`/fhir/Appointment/${b.body.id}`, movedTo(b.body, target))),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(15);
    const held = await svc.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM appointment_booking WHERE slot_id = $1 AND status = 'booked'`,
      [target],
    );
    expect(held[0].n).toBe(1);
    const busy = await svc.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM appointment_slot WHERE slot_id = ANY($1) AND status = 'busy'`,
      [slots],
    );
    expect(busy[0].n).toBe(16);
  });
});

describe('a storm of bookings, cancellations and reschedulings', () => {
  it('leaves every slot consistent: busy in its row and its FHIR resource exactly when one booking holds it', async () => {
    const { slots } = await freshSlots('prac-storm', 6);
    const held = await Promise.all(slots.slice(0, 3).map((s, i) => book(s, `pat-storm-${i}`, 'prac-storm')));
    const [a0, a1, a2] = held.map((h) => h.body);
    const answers = await Promise.all([
      put(`/fhir/Appointment/${a0.id}`, { ...a0, status: 'cancelled' }),
      put(`/fhir/Appointment/${a1.id}`, movedTo(a1, slots[3])),
      put(`/fhir/Appointment/${a2.id}`, movedTo(a2, slots[0])),
      ...slots.flatMap((s, i) =>
        Array.from({ length: 4 }, (_, j) => book(s, `pat-storm-${i}-${j}`, 'prac-storm')),
      ),
    ]);
    expect(answers.every((a) => [200, 201, 409].includes(a.status))).toBe(true);

    const rows = await svc.db.query<{ slot_id: string; status: string; holders: number }>(
      `SELECT s.slot_id, s.status,
              (SELECT count(*)::int FROM appointment_booking b
                WHERE b.slot_id = s.slot_id AND b.status <> 'cancelled') AS holders
         FROM appointment_slot s WHERE s.slot_id = ANY($1)`,
      [slots],
    );
    for (const row of rows) {
      expect(row.holders).toBeLessThanOrEqual(1);
      expect({ slot: row.slot_id, status: row.status }).toEqual({
        slot: row.slot_id,
        status: row.holders === 1 ? 'busy' : 'free',
      });
      expect((await slotStatus(row.slot_id)).fhir).toBe(row.status);
    }
    // Every booked Appointment names the slot its booking row holds.
    const bookings = await svc.db.query<{ appointment_id: string; slot_id: string }>(
      `SELECT appointment_id, slot_id FROM appointment_booking WHERE slot_id = ANY($1) AND status = 'booked'`,
      [slots],
    );
    for (const booking of bookings) {
      const stored = await get<Appointment>(`/fhir/Appointment/${booking.appointment_id}`);
      expect(stored.body).toMatchObject({
        status: 'booked',
        slot: [{ reference: `Slot/${booking.slot_id}` }],
      });
    }
  });
});

/** The Appointment with one more participant. */
const withParticipant = (a: Appointment, reference: string): Appointment => ({
  ...a,
  participant: [...a.participant, { actor: { reference }, status: 'accepted' }],
});

describe('refusals write nothing', () => {
  let slotId: string;
  let takenId: string;
  let otherService: string;

  beforeAll(async () => {
    const scheduleId = await createSchedule('prac-refusals', ['57', '58']);
    slotId = await createSlot(scheduleId, '09:00', '09:15');
    takenId = await createSlot(scheduleId, '09:15', '09:30');
    otherService = await createSlot(scheduleId, '09:30', '09:45', {
      serviceType: [{ coding: [{ code: '58' }] }],
    });
    expect((await book(takenId, 'pat-r0', 'prac-refusals')).status).toBe(201);
  });

  /** Each case: what is wrong, the status and issue type answered, the body. */
  const cases: [string, number, string, () => unknown][] = [
    [
      'status proposed',
      400,
      'not-supported',
      () => booking(slotId, 'pat-r', 'prac-refusals', { status: 'proposed' }),
    ],
    ['no slot', 400, 'required', () => booking(slotId, 'pat-r', 'prac-refusals', { slot: undefined })],
    [
      'two slots',
      400,
      'required',
      () =>
        booking(slotId, 'pat-r', 'prac-refusals', {
          slot: [{ reference: `Slot/${slotId}` }, { reference: `Slot/${takenId}` }],
        }),
    ],
    [
      'a slot that is no Slot reference',
      400,
      'required',
      () => booking(slotId, 'pat-r', 'prac-refusals', { slot: [{ reference: `Schedule/${slotId}` }] }),
    ],
    [
      'no patient',
      400,
      'required',
      () =>
        booking(slotId, 'pat-r', 'prac-refusals', {
          participant: [{ actor: { reference: 'Practitioner/prac-refusals' }, status: 'accepted' }],
        }),
    ],
    [
      'two patients',
      400,
      'required',
      () => withParticipant(booking(slotId, 'pat-r', 'prac-refusals'), 'Patient/pat-s'),
    ],
    [
      'no practitioner',
      400,
      'required',
      () =>
        booking(slotId, 'pat-r', 'prac-refusals', {
          participant: [{ actor: { reference: 'Patient/pat-r' }, status: 'accepted' }],
        }),
    ],
    [
      'a Location participant',
      400,
      'invalid',
      () => withParticipant(booking(slotId, 'pat-r', 'prac-refusals'), 'Location/room-1'),
    ],
    [
      'end before start',
      400,
      'invalid',
      () => booking(slotId, 'pat-r', 'prac-refusals', { start: at('09:15'), end: at('09:00') }),
    ],
    [
      'no start and end (R4 app-3)',
      400,
      'invariant',
      () => booking(slotId, 'pat-r', 'prac-refusals', { start: undefined, end: undefined }),
    ],
    [
      'an unknown element',
      400,
      'structure',
      () => ({ ...booking(slotId, 'pat-r', 'prac-refusals'), colour: 'blue' }),
    ],
    ['no resourceType', 400, 'structure', () => ({ status: 'booked' })],
    ['a slot that does not exist', 422, 'not-found', () => booking('no-such-slot', 'pat-r', 'prac-refusals')],
    ['another practitioner', 422, 'business-rule', () => booking(slotId, 'pat-r', 'prac-other')],
    [
      'another service type',
      422,
      'business-rule',
      () => booking(otherService, 'pat-r', 'prac-refusals', { serviceType: [{ coding: [{ code: '57' }] }] }),
    ],
    [
      'times that are not the slot’s',
      422,
      'business-rule',
      () => booking(slotId, 'pat-r', 'prac-refusals', { start: at('10:00'), end: at('10:15') }),
    ],
    ['a taken slot', 409, 'conflict', () => booking(takenId, 'pat-r', 'prac-refusals')],
  ];

  it.each(cases)('POST /fhir/Appointment with %s → %i %s', async (_, status, issue, body) => {
    const before = await counts(svc.db);
    const refused = await post('/fhir/Appointment', body());
    expectOutcome(refused, status, issue);
    expect(await counts(svc.db)).toEqual(before);
  });

  it('refuses bodies that are not FHIR JSON: malformed JSON 400, another media type 415', async () => {
    const before = await counts(svc.db);
    const malformed = await call(svc.base, '/fhir/Appointment', { raw: '{"resourceType": "Appoint' });
    expect(malformed.status).toBe(400);
    const text = await call(svc.base, '/fhir/Appointment', { raw: 'booked', type: 'text/plain' });
    expect(text.status).toBe(415);
    expect(await counts(svc.db)).toEqual(before);
  });

  it('refuses updates it cannot apply: an unknown appointment 404, another patient 422, DELETE 405', async () => {
    const before = await counts(svc.db);
    expectOutcome(
      await put('/fhir/Appointment/never-booked', {
        ...booking(slotId, 'pat-r', 'prac-refusals'),
        id: 'never-booked',
      }),
      404,
      'not-found',
    );
    const taken = (await get<Bundle<Appointment>>(`/fhir/Appointment?slot=Slot/${takenId}`)).body.entry?.[0]
      ?.resource as Appointment & { id: string };
    const patients = taken.participant.map((p) =>
      p.actor?.reference?.startsWith('Patient/') ? { ...p, actor: { reference: 'Patient/pat-other' } } : p,
    );
    expectOutcome(
      await put(`/fhir/Appointment/${taken.id}`, { ...taken, participant: patients, status: 'cancelled' }),
      422,
      'business-rule',
    );
    expectOutcome(
      await put(`/fhir/Appointment/${taken.id}`, { ...taken, status: 'noshow' }),
      400,
      'not-supported',
    );
    expect((await call(svc.base, `/fhir/Appointment/${taken.id}`, { method: 'DELETE' })).status).toBe(405);
    expect(await counts(svc.db)).toEqual(before);
  });
});
