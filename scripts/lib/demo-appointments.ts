// The demo's appointments: the receivers of the confirmations on the ports the service sends to by default
// (an SMTP sink on 2525, SMS and push gateways on 3062 and 3063, the mailbox readable at 3061/mail), and the
// demo practitioners' schedules with open slots for the next days, so that a newcomer finds a free slot,
// books it and sees the confirmations arrive.
import type { Bundle, Schedule } from '@medplum/fhirtypes';
import { createSchedule, createSlots, SERVICE_TYPE_SYSTEM } from './appointments-seeding';
import { failureSummary, getJson } from './bench-http';
import { type Arrival, ConfirmationSinks } from './confirmation-sinks';
import { demoPractitioners } from './demo-hospital';

/** Where the demo's confirmation receivers listen: the appointments service's defaults, and the mailbox view. */
export const DEMO_CONFIRMATION_PORTS = { smtp: 2525, sms: 3062, push: 3063, mailbox: 3061 } as const;

const SERVICE_TYPE = {
  system: SERVICE_TYPE_SYSTEM,
  code: '124',
  display: 'General Practice',
};
/** Open slots on the next DAYS days (from tomorrow, UTC), SLOT_MINUTES each, from OPENS to CLOSES o'clock. */
const DAYS = 5;
const SLOT_MINUTES = 30;
const OPENS = 9;
const CLOSES = 17;
/** A schedule is opened for this many days; a demo run after it lapses opens a new one. */
const HORIZON_DAYS = 90;
const DAY_MS = 86_400_000;

/** Starts the receivers; each confirmation that arrives is told to `log` (ids and addresses, no names). */
export async function startConfirmationSinks(log: (line: string) => void): Promise<ConfirmationSinks> {
  const ports = DEMO_CONFIRMATION_PORTS;
  const sinks = new ConfirmationSinks({
    smtpPort: ports.smtp,
    smsPort: ports.sms,
    pushPort: ports.push,
    mailboxPort: ports.mailbox,
    onArrival: (arrival: Arrival) =>
      log(
        `confirmation by ${arrival.channel} to ${arrival.to}: ${arrival.subject}${arrival.duplicate ? ' (a repeat, dropped)' : ''}`,
      ),
  });
  try {
    await sinks.start();
  } catch (error) {
    await sinks.stop();
    throw new Error(
      `the confirmation receivers need ports ${ports.smtp}, ${ports.sms}, ${ports.push} and ${ports.mailbox} ` +
        `(another demo running?): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return sinks;
}

const startOfDay = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;

/** The practitioner's schedule whose horizon covers [from, to), or a new one from `from`. */
async function scheduleFor(base: string, practitionerId: string, from: number, to: number): Promise<string> {
  const found = await getJson(`${base}/fhir/Schedule?actor=Practitioner/${practitionerId}`);
  if (found.status !== 200)
    throw new Error(`finding the schedule of ${practitionerId}: ${failureSummary(found)}`);
  const covering = ((JSON.parse(found.body) as Bundle<Schedule>).entry ?? [])
    .map((entry) => entry.resource)
    .find(
      (schedule) =>
        schedule?.active !== false &&
        Date.parse(schedule?.planningHorizon?.start ?? '') <= from &&
        Date.parse(schedule?.planningHorizon?.end ?? '') >= to,
    );
  return (
    covering?.id ?? createSchedule(base, practitionerId, SERVICE_TYPE, from, from + HORIZON_DAYS * DAY_MS)
  );
}

export interface DemoSlots {
  /** Slots created now; the others of the days were there from an earlier run. */
  created: number;
  total: number;
  /** The first day with open slots (tomorrow), YYYY-MM-DD. */
  firstDay: string;
}

/** The practitioners with consult schedules: the README's two and the first of the emergency department. */
export const clinicPractitioners = demoPractitioners.slice(0, 3);

/** How many days of slots the demo opens at a time. */
export const DEMO_SLOT_DAYS = DAYS;

/**
 * Opens `practitionerId`'s schedule for `days` days from `firstDay` days after today (UTC) and creates its
 * slots there, through the service's own API. Idempotent: a slot that is already there is refused as an
 * overlap (409) and left as it is, booked or free.
 */
export async function openSlots(
  base: string,
  practitionerId: string,
  firstDay: number,
  days: number,
): Promise<{ created: number; existing: number }> {
  const from = startOfDay(Date.now()) + firstDay * DAY_MS;
  const scheduleId = await scheduleFor(base, practitionerId, from, from + days * DAY_MS);
  const starts: number[] = [];
  for (let day = 0; day < days; day++)
    for (let minute = OPENS * 60; minute < CLOSES * 60; minute += SLOT_MINUTES)
      starts.push(from + day * DAY_MS + minute * 60_000);
  return createSlots(base, scheduleId, SERVICE_TYPE, starts, SLOT_MINUTES);
}

/** Opens the clinic practitioners' schedules and slots for the next DAYS days (from tomorrow). */
export async function seedDemoSlots(base: string): Promise<DemoSlots> {
  let created = 0;
  let total = 0;
  for (const practitioner of clinicPractitioners) {
    const slots = await openSlots(base, practitioner.id!, 1, DAYS);
    created += slots.created;
    total += slots.created + slots.existing;
  }
  const firstDay = new Date(startOfDay(Date.now()) + DAY_MS).toISOString().slice(0, 10);
  return { created, total, firstDay };
}

interface FreeSlotView {
  slotId: string;
  start: string;
  end: string;
}

/** The banner's lines for appointments: find a free slot, book it (a real one), see the confirmations. */
export async function appointmentsBanner(
  base: string,
  sinks: ConfirmationSinks,
  slots: DemoSlots,
): Promise<string[]> {
  const practitioner = demoPractitioners[0].id!;
  const freeUrl = `${base}/api/slots/free?practitioner=${practitioner}&date=${slots.firstDay}`;
  const found = await getJson(freeUrl);
  const first = found.status === 200 ? (JSON.parse(found.body) as FreeSlotView[])[0] : undefined;
  const booking = first && {
    resourceType: 'Appointment',
    status: 'booked',
    slot: [{ reference: `Slot/${first.slotId}` }],
    start: first.start,
    end: first.end,
    participant: [
      { actor: { reference: 'Patient/pat-0001' }, status: 'accepted' },
      { actor: { reference: `Practitioner/${practitioner}` }, status: 'accepted' },
    ],
  };
  const views = sinks.views();
  return [
    `Appointments: ${clinicPractitioners.map((p) => p.id).join(', ')} have open ${SLOT_MINUTES}-minute slots ` +
      `${String(OPENS).padStart(2, '0')}:00–${CLOSES}:00 UTC for ${DAYS} days from ${slots.firstDay}. Find one and book it:`,
    `  curl -s '${freeUrl}'`,
    ...(booking
      ? [
          `  curl -s -X POST ${base}/fhir/Appointment -H 'content-type: application/fhir+json' -d '${JSON.stringify(booking)}'`,
        ]
      : [`  (no free slot left on ${slots.firstDay}: pick another date)`]),
    '  Booking the same slot again is refused (409). The confirmations (e-mail to both, SMS and push to the patient)',
    '  are logged here as they arrive, and kept by the demo receivers:',
    `  curl -s ${views.email}   ·   curl -s ${views.sms}   ·   curl -s ${views.push}`,
    `  curl -s '${base}/api/notifications?receiver=Patient/pat-0001'   (the service's delivery log)`,
  ];
}
