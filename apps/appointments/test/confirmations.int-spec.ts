import type { Appointment } from '@medplum/fhirtypes';
import type { DeadLetteredNotification, NotificationDetail } from '@hospital/transactions';
import {
  appointment,
  at,
  type AppointmentsUnderTest,
  call,
  schedule,
  slot,
  startAppointments,
} from './support/appointments-client';
import { GatewaySim } from '../../../scripts/lib/gateway-sim';
import { SmtpSink } from '../../../scripts/lib/smtp-sink';

/**
 * Confirmations over real peers: the service on a fresh database over HTTP, an SMTP sink (`smtp-server`)
 * for e-mail and simulated SMS and push gateways. A booking tells the clinician (e-mail) and the patient
 * (e-mail, SMS, push) once each; a mail server that is down holds back only the e-mails, which arrive when
 * it is back; a 550 is dead-lettered and delivered once after a replay; an SMS gateway answering 503 holds
 * back only the SMS; a cancellation and a rescheduling are confirmed; a refused double booking confirms
 * nothing.
 */
jest.setTimeout(60_000);

const sink = new SmtpSink();
const sms = new GatewaySim('/messages');
const push = new GatewaySim('/notifications');
let svc: AppointmentsUnderTest;

type Booked = Appointment & { id: string; meta: { versionId: string } };
const post = <T>(path: string, body: unknown) => call<T>(svc.base, path, { body });
const get = <T>(path: string) => call<T>(svc.base, path);

beforeAll(async () => {
  await Promise.all([sink.start(), sms.start(), push.start()]);
  svc = await startAppointments({
    SMTP_URL: sink.url,
    SMS_GATEWAY_URL: sms.url,
    PUSH_GATEWAY_URL: push.url,
    CONFIRM_CLINICIAN_CHANNELS: 'email',
    CONFIRM_PATIENT_CHANNELS: 'email, sms, push',
    NOTIFICATION_POLL_MS: '100',
    NOTIFICATION_BASE_DELAY_MS: '50',
    NOTIFICATION_MAX_DELAY_MS: '300',
    NOTIFICATION_ATTEMPT_TIMEOUT_MS: '2000',
    NOTIFICATION_LEASE_MS: '5000',
    NOTIFICATION_MAX_ATTEMPTS: '200',
  });
}, 120_000);

afterAll(async () => {
  await svc?.close();
  await Promise.all([sink.stop(), sms.stop(), push.stop()]);
});

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A fresh practitioner's schedule with one slot at `time` (15 minutes). */
async function freeSlot(practitionerId: string, time = '10:00'): Promise<string> {
  const created = await post<{ id: string }>('/fhir/Schedule', schedule(practitionerId));
  expect(created.status).toBe(201);
  const [h, m] = time.split(':').map(Number);
  const end = `${String(h + Math.floor((m + 15) / 60)).padStart(2, '0')}:${String((m + 15) % 60).padStart(2, '0')}`;
  const made = await post<{ id: string }>('/fhir/Slot', slot(created.body.id, time, end));
  expect(made.status).toBe(201);
  return made.body.id;
}

const bookingOf = (slotId: string, patientId: string, practitionerId: string, time = '10:00') => {
  const [h, m] = time.split(':').map(Number);
  const end = `${String(h + Math.floor((m + 15) / 60)).padStart(2, '0')}:${String((m + 15) % 60).padStart(2, '0')}`;
  return appointment(slotId, patientId, practitionerId, { start: at(time), end: at(end) });
};

/** The appointment's notifications as the log holds them. */
async function notificationsOf(appointmentId: string) {
  return svc.db.query<{
    id: string;
    idempotency_key: string;
    receiver: string;
    channel: string;
    state: string;
  }>(
    `SELECT id, idempotency_key, receiver, channel, state FROM tx_notification
      WHERE idempotency_key LIKE $1 ORDER BY idempotency_key`,
    [`${appointmentId}:%`],
  );
}

async function allDelivered(appointmentId: string, expected: number): Promise<boolean> {
  const rows = await notificationsOf(appointmentId);
  return rows.length === expected && rows.every((row) => row.state === 'delivered');
}

/** What arrived for one change (keys prefixed `<id>:<event>:<version>:`), repeats included. */
function arrived(prefix: string) {
  return { email: sink.matching(prefix), sms: sms.matching(prefix), push: push.matching(prefix) };
}

const everyChannelArrived = (prefix: string) => () => {
  const got = arrived(prefix);
  return got.email.length >= 2 && got.sms.length >= 1 && got.push.length >= 1;
};

async function book(patientId: string, practitionerId: string): Promise<Booked> {
  const slotId = await freeSlot(practitionerId);
  const booked = await post<Booked>('/fhir/Appointment', bookingOf(slotId, patientId, practitionerId));
  expect(booked.status).toBe(201);
  return booked.body;
}

describe('confirmations', () => {
  it('tell the clinician and the patient of a booking on each configured channel, once each', async () => {
    const booked = await book('pat-confirm', 'prac-confirm');
    const prefix = `${booked.id}:booked:${booked.meta.versionId}:`;
    await waitFor('every confirmation', everyChannelArrived(prefix));
    await waitFor('the log to show them delivered', () => allDelivered(booked.id, 4));

    const got = arrived(prefix);
    expect(got.email.map((m) => m.idempotencyKey).sort()).toEqual([
      `${prefix}clinician:email`,
      `${prefix}patient:email`,
    ]);
    const toClinician = got.email.find((m) => m.idempotencyKey === `${prefix}clinician:email`)!;
    const toPatient = got.email.find((m) => m.idempotencyKey === `${prefix}patient:email`)!;
    expect(toClinician.to).toEqual(['prac-confirm@practitioners.hospital.test']);
    expect(toPatient.to).toEqual(['pat-confirm@patients.hospital.test']);
    expect(toPatient.messageId).toBe(
      `<${booked.id}/booked/${booked.meta.versionId}/patient/email@appointments.hospital.test>`,
    );
    expect(toPatient.subject).toContain(booked.id);
    expect(toPatient.raw).toContain('10:00');
    expect(got.sms).toHaveLength(1);
    expect(got.sms[0].key).toBe(`${prefix}patient:sms`);
    expect(got.sms[0].body.to).toMatch(/^\+999\d{10}$/);
    expect(got.push).toHaveLength(1);
    expect(got.push[0].key).toBe(`${prefix}patient:push`);
    expect(got.push[0].body.reference).toBe(booked.id);

    const rows = await notificationsOf(booked.id);
    expect(new Set(rows.map((row) => row.idempotency_key)).size).toBe(4);
    expect(rows.map((row) => `${row.receiver} ${row.channel}`).sort()).toEqual([
      'Patient/pat-confirm email',
      'Patient/pat-confirm push',
      'Patient/pat-confirm sms',
      'Practitioner/prac-confirm email',
    ]);
  });

  it('do not hold the booking while the SMTP server is down; the e-mails arrive once it is back', async () => {
    await sink.stop();
    try {
      const slotId = await freeSlot('prac-down');
      const started = Date.now();
      const reply = await post<Booked>('/fhir/Appointment', bookingOf(slotId, 'pat-down', 'prac-down'));
      expect(reply.status).toBe(201);
      expect(Date.now() - started).toBeLessThan(1_500);
      const booked = reply.body;
      const prefix = `${booked.id}:booked:${booked.meta.versionId}:`;

      await waitFor('SMS and push while the mail server is down', () => {
        const got = arrived(prefix);
        return got.sms.length === 1 && got.push.length === 1;
      });
      const patientMail = (await notificationsOf(booked.id)).find((row) => row.channel === 'email')!;
      let detail: NotificationDetail | undefined;
      await waitFor('failed e-mail attempts', async () => {
        detail = (await get<NotificationDetail>(`/api/notifications/${patientMail.id}`)).body;
        return detail.attemptRecords.filter((a) => a.outcome === 'failed').length >= 2;
      });
      expect(detail!.state).toBe('pending');
      expect(arrived(prefix).email).toHaveLength(0);

      await sink.start();
      await waitFor('the e-mails after the server is back', () => arrived(prefix).email.length >= 2);
      await waitFor('the log to show them delivered', () => allDelivered(booked.id, 4));
      expect(arrived(prefix).email).toHaveLength(2);
      const after = (await get<NotificationDetail>(`/api/notifications/${patientMail.id}`)).body;
      expect(after.state).toBe('delivered');
      expect(after.attemptRecords.at(-1)!.outcome).toBe('delivered');
    } finally {
      await sink.start().catch(() => undefined);
    }
  });

  it('dead-letter an e-mail the server refuses for good (550), and deliver it once after a replay', async () => {
    sink.mode = 'permanent';
    let booked: Booked;
    let prefix = '';
    try {
      booked = await book('pat-refused', 'prac-refused');
      prefix = `${booked.id}:booked:${booked.meta.versionId}:`;
      let dead: DeadLetteredNotification[] = [];
      await waitFor('both e-mails dead-lettered', async () => {
        const listed = await get<DeadLetteredNotification[]>('/api/notifications/dead-letters?channel=email');
        dead = listed.body.filter((d) => d.idempotencyKey.startsWith(prefix));
        return dead.length === 2;
      });
      expect(dead.every((d) => d.attempts === 1 && (d.lastError ?? '').includes('550'))).toBe(true);
      await waitFor('SMS and push delivered meanwhile', () => {
        const got = arrived(prefix);
        return got.sms.length === 1 && got.push.length === 1;
      });
      expect(arrived(prefix).email).toHaveLength(0);

      sink.mode = 'accept';
      for (const letter of dead) {
        const replay = await post<{ replayed: boolean }>(
          `/api/notifications/dead-letters/${letter.id}/replay`,
          {},
        );
        expect(replay.status).toBe(200);
      }
    } finally {
      sink.mode = 'accept';
    }
    await waitFor('the replayed e-mails', () => arrived(prefix).email.length >= 2);
    await waitFor('the log to show them delivered', () => allDelivered(booked.id, 4));
    expect(
      arrived(prefix)
        .email.map((m) => m.idempotencyKey)
        .sort(),
    ).toEqual([`${prefix}clinician:email`, `${prefix}patient:email`]);
  });

  it('confirm a cancellation to both, keyed by the cancelled version', async () => {
    const booked = await book('pat-cancel', 'prac-cancel');
    await waitFor('the booking confirmations', () => allDelivered(booked.id, 4));
    const cancelled = await call<Booked>(svc.base, `/fhir/Appointment/${booked.id}`, {
      method: 'PUT',
      body: { ...booked, status: 'cancelled' },
    });
    expect(cancelled.status).toBe(200);
    const version = cancelled.body.meta.versionId;
    expect(version).not.toBe(booked.meta.versionId);
    const prefix = `${booked.id}:cancelled:${version}:`;
    await waitFor('the cancellation confirmations', everyChannelArrived(prefix));
    await waitFor('the log to show them delivered', () => allDelivered(booked.id, 8));
    const got = arrived(prefix);
    expect(got.email).toHaveLength(2);
    expect(got.email.every((m) => m.subject.includes('cancelled'))).toBe(true);
    expect(got.sms.map((r) => r.body.type)).toEqual(['appointment.cancelled']);
    expect(got.push).toHaveLength(1);
  });

  it('confirm a rescheduling to both, naming the new slot, keyed by the new version', async () => {
    const booked = await book('pat-move', 'prac-move');
    await waitFor('the booking confirmations', () => allDelivered(booked.id, 4));
    const scheduleId = (
      await get<{ entry?: { resource: { id: string } }[] }>('/fhir/Schedule?actor=Practitioner/prac-move')
    ).body.entry![0].resource.id;
    const later = await post<{ id: string }>('/fhir/Slot', slot(scheduleId, '11:00', '11:15'));
    expect(later.status).toBe(201);
    const moved = await call<Booked>(svc.base, `/fhir/Appointment/${booked.id}`, {
      method: 'PUT',
      body: {
        ...booked,
        slot: [{ reference: `Slot/${later.body.id}` }],
        start: at('11:00'),
        end: at('11:15'),
      },
    });
    expect(moved.status).toBe(200);
    const prefix = `${booked.id}:rescheduled:${moved.body.meta.versionId}:`;
    await waitFor('the rescheduling confirmations', everyChannelArrived(prefix));
    await waitFor('the log to show them delivered', () => allDelivered(booked.id, 8));
    const got = arrived(prefix);
    expect(got.email).toHaveLength(2);
    expect(got.email.every((m) => m.subject.includes('has moved') && m.raw.includes('11:00'))).toBe(true);
    expect(got.sms.map((r) => r.body.type)).toEqual(['appointment.rescheduled']);
    expect(got.push).toHaveLength(1);
  });

  it('retry an SMS gateway answering 503 on its own: e-mail and push arrive meanwhile, the SMS once after', async () => {
    sms.failing = true;
    let booked: Booked;
    let prefix = '';
    try {
      booked = await book('pat-sms-down', 'prac-sms-down');
      prefix = `${booked.id}:booked:${booked.meta.versionId}:`;
      await waitFor('e-mail and push while the SMS gateway fails', () => {
        const got = arrived(prefix);
        return got.email.length === 2 && got.push.length === 1;
      });
      const text = (await notificationsOf(booked.id)).find((row) => row.channel === 'sms')!;
      await waitFor('failed SMS attempts', async () => {
        const detail = (await get<NotificationDetail>(`/api/notifications/${text.id}`)).body;
        return (
          detail.attemptRecords.filter((a) => a.outcome === 'failed' && a.error?.includes('503')).length >= 2
        );
      });
      expect(arrived(prefix).sms).toHaveLength(0);
    } finally {
      sms.failing = false;
    }
    await waitFor('the SMS after the gateway is back', () => allDelivered(booked.id, 4));
    expect(arrived(prefix).sms.map((r) => r.key)).toEqual([`${prefix}patient:sms`]);
  });

  it('send nothing for a booking refused as a double booking (409)', async () => {
    const slotId = await freeSlot('prac-double');
    const first = await post<Booked>('/fhir/Appointment', bookingOf(slotId, 'pat-first', 'prac-double'));
    expect(first.status).toBe(201);
    await waitFor('the first booking confirmations', () => allDelivered(first.body.id, 4));
    const count = async () =>
      (await svc.db.query<{ n: number }>('SELECT count(*)::int AS n FROM tx_notification'))[0].n;
    const before = await count();

    const second = await post<Booked>('/fhir/Appointment', bookingOf(slotId, 'pat-second', 'prac-double'));
    expect(second.status).toBe(409);
    expect(await count()).toBe(before);
    const forSecond = await svc.db.query(
      `SELECT 1 FROM tx_notification WHERE receiver = 'Patient/pat-second'`,
    );
    expect(forSecond).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sink.received.filter((m) => m.to.includes('pat-second@patients.hospital.test'))).toHaveLength(0);
  });

  it('confirm only the one of eight racing bookings of a slot that won it', async () => {
    const slotId = await freeSlot('prac-race');
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        post<Booked>('/fhir/Appointment', bookingOf(slotId, `pat-race-${i}`, 'prac-race')),
      ),
    );
    const winners = replies.filter((reply) => reply.status === 201);
    expect(winners).toHaveLength(1);
    expect(replies.filter((reply) => reply.status === 409)).toHaveLength(7);
    const rows = await svc.db.query<{ receiver: string }>(
      `SELECT receiver FROM tx_notification WHERE receiver LIKE 'Patient/pat-race-%' OR receiver = 'Practitioner/prac-race'`,
    );
    const winner = winners[0].body;
    expect(rows).toHaveLength(4);
    expect(
      rows.every(
        (row) =>
          row.receiver === 'Practitioner/prac-race' ||
          row.receiver === winner.participant[0].actor!.reference,
      ),
    ).toBe(true);
    await waitFor('the winner’s confirmations', () => allDelivered(winner.id, 4));
  });
});
