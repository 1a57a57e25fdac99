// The load of a best-effort fault trial: bedside monitors publishing vitals over MQTT (QoS 1) for patients
// who deteriorate and recover over and over, so NEWS2 alerts open and close all the time; and bookings of
// appointments (some cancelled) over HTTP, each confirmed by e-mail and push. The runner keeps what the
// broker acknowledged (by reading identifier) and what the appointments API answered, to check them against
// the databases.
import {
  BedsideBed,
  bedsideObservation,
  BedsideSimulator,
  DETERIORATION_ROUNDS,
  PARAMETERS,
  readingsAt,
} from './bedside-simulator';
import { sleep } from './faults-outbox-load';
import { devAuthorizationFor } from '../services';

/** Position on the deterioration path at `round`: well → worst → well, two steps at a time. */
export function cyclePosition(round: number): number {
  const period = 2 * DETERIORATION_ROUNDS;
  const x = (round * 2) % period;
  return x <= DETERIORATION_ROUNDS ? x : period - x;
}

/**
 * Publishes a round of every bed's seven vitals every `roundMs` while `running`, each vital with its own
 * identifier `<tag>:<bed>:<round>:<parameter>`. Publishes do not wait for the broker: while it is away
 * mqtt.js keeps them and sends them on reconnecting; `acked` gets each identifier on its PUBACK.
 */
export class VitalsLoad {
  readonly acked = new Set<string>();
  published = 0;
  private outstanding = new Set<Promise<void>>();
  private readonly failures: string[] = [];

  constructor(
    private readonly simulator: BedsideSimulator,
    private readonly beds: readonly BedsideBed[],
  ) {}

  /** Rounds until `done()`; resolves when the last round went out (not when it was acknowledged). */
  async run(tag: string, roundMs: number, done: () => boolean): Promise<void> {
    for (let round = 0; !done(); round++) {
      const started = Date.now();
      const at = new Date();
      for (const [b, bed] of this.beds.entries()) {
        // Beds are out of step, so alerts open and close all through the trial.
        const readings = readingsAt(cyclePosition(round + b * 3), true);
        for (const parameter of PARAMETERS) {
          const id = `${tag}:${bed.bedId}:${round}:${parameter}`;
          const observation = bedsideObservation(
            bed.bedId,
            bed.patientId,
            parameter,
            readings[parameter],
            at,
            id,
          );
          const sent = this.simulator.publish(bed.bedId, observation).then(
            () => {
              this.acked.add(id);
            },
            (error: unknown) => {
              this.failures.push(String(error));
            },
          );
          this.published += 1;
          this.outstanding.add(sent);
          void sent.finally(() => this.outstanding.delete(sent));
        }
      }
      const wait = roundMs - (Date.now() - started);
      if (wait > 0) await sleep(wait);
    }
  }

  /** Vitals sent and not acknowledged yet. */
  get pending(): number {
    return this.outstanding.size;
  }

  /** Publishes that failed for good (the client gave up on them): should never happen. */
  get errors(): readonly string[] {
    return this.failures;
  }
}

const SERVICE_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/service-type';

/** A booking the service confirmed: its id and the FHIR version each confirmed change wrote. */
export interface ConfirmedChange {
  appointmentId: string;
  event: 'booked' | 'cancelled';
  versionId: string;
}

export interface BookingLoadResult {
  changes: ConfirmedChange[];
  bookings: number;
  cancellations: number;
  failed: number;
  statuses: Map<string, number>;
}

interface Answer {
  status: string;
  body?: Record<string, unknown>;
}

async function send(url: string, method: string, body: unknown): Promise<Answer> {
  try {
    const response = await fetch(url, {
      method,
      headers: { 'content-type': 'application/fhir+json', authorization: devAuthorizationFor(url) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      parsed = undefined;
    }
    return { status: String(response.status), body: parsed };
  } catch (error) {
    return { status: error instanceof Error ? error.name : 'error' };
  }
}

/** `count` ten-minute slots of `day` (UTC) from midnight. */
function slotTimes(day: string, count: number): { start: string; end: string }[] {
  const midnight = Date.parse(`${day}T00:00:00Z`);
  return Array.from({ length: count }, (_, i) => ({
    start: new Date(midnight + i * 600_000).toISOString(),
    end: new Date(midnight + (i + 1) * 600_000).toISOString(),
  }));
}

/**
 * A practitioner's schedule for `day` with 144 free ten-minute slots (one batch). Returns the slots' ids
 * and times; throws when the service refuses.
 */
export async function openSchedule(
  base: string,
  practitionerId: string,
  day: string,
): Promise<{ id: string; start: string; end: string }[]> {
  const schedule = await send(`${base}/fhir/Schedule`, 'POST', {
    resourceType: 'Schedule',
    active: true,
    actor: [{ reference: `Practitioner/${practitionerId}` }],
    serviceType: [{ coding: [{ system: SERVICE_TYPE_SYSTEM, code: '57' }] }],
    planningHorizon: {
      start: `${day}T00:00:00Z`,
      end: new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString(),
    },
  });
  const scheduleId = schedule.body?.id;
  if (schedule.status !== '201' || typeof scheduleId !== 'string')
    throw new Error(`appointments refused a schedule: ${schedule.status}`);
  const times = slotTimes(day, 144);
  const batch = await send(`${base}/fhir`, 'POST', {
    resourceType: 'Bundle',
    type: 'batch',
    entry: times.map((t) => ({
      request: { method: 'POST', url: 'Slot' },
      resource: {
        resourceType: 'Slot',
        schedule: { reference: `Schedule/${scheduleId}` },
        serviceType: [{ coding: [{ system: SERVICE_TYPE_SYSTEM, code: '57' }] }],
        status: 'free',
        ...t,
      },
    })),
  });
  const entries = (batch.body?.entry ?? []) as { response?: { status?: string; location?: string } }[];
  const slots = entries.map((e, i) => ({
    id: /Slot\/([^/]+)/.exec(e.response?.location ?? '')?.[1],
    status: e.response?.status ?? '',
    ...times[i],
  }));
  const made = slots.filter(
    (s): s is { id: string; status: string; start: string; end: string } =>
      s.status.startsWith('201') && s.id !== undefined,
  );
  if (batch.status !== '200' || made.length !== times.length)
    throw new Error(`appointments refused slots: ${batch.status}, ${made.length} of ${times.length} made`);
  return made.map(({ id, start, end }) => ({ id, start, end }));
}

/**
 * Books the slots one after another at `perSecond` until `done()` (or the slots run out); every fourth
 * booking is cancelled right after. A request the service does not answer (it is being killed) is counted
 * and the slot skipped.
 */
export async function driveBookings(
  base: string,
  slots: readonly { id: string; start: string; end: string }[],
  options: { practitionerId: string; patientPrefix: string; perSecond: number; done: () => boolean },
): Promise<BookingLoadResult> {
  const result: BookingLoadResult = {
    changes: [],
    bookings: 0,
    cancellations: 0,
    failed: 0,
    statuses: new Map(),
  };
  const count = (status: string): void => {
    result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
  };
  const start = Date.now();
  for (const [n, slot] of slots.entries()) {
    if (options.done()) break;
    const due = start + (n * 1000) / options.perSecond;
    if (due > Date.now()) await sleep(due - Date.now());
    const patientId = `${options.patientPrefix}-${n}`;
    const booked = await send(`${base}/fhir/Appointment`, 'POST', {
      resourceType: 'Appointment',
      status: 'booked',
      slot: [{ reference: `Slot/${slot.id}` }],
      start: slot.start,
      end: slot.end,
      participant: [
        { actor: { reference: `Patient/${patientId}` }, status: 'accepted' },
        { actor: { reference: `Practitioner/${options.practitionerId}` }, status: 'accepted' },
      ],
    });
    count(booked.status);
    const body = booked.body;
    const meta = body?.meta as { versionId?: string } | undefined;
    if (booked.status !== '201' || typeof body?.id !== 'string' || meta?.versionId === undefined) {
      result.failed += 1;
      continue;
    }
    result.bookings += 1;
    result.changes.push({ appointmentId: body.id, event: 'booked', versionId: meta.versionId });
    if (n % 4 !== 3) continue;
    const cancelled = await send(`${base}/fhir/Appointment/${body.id}`, 'PUT', {
      ...body,
      status: 'cancelled',
    });
    count(cancelled.status);
    const version = (cancelled.body?.meta as { versionId?: string } | undefined)?.versionId;
    if (cancelled.status !== '200' || version === undefined) {
      result.failed += 1;
      continue;
    }
    result.cancellations += 1;
    result.changes.push({ appointmentId: body.id, event: 'cancelled', versionId: version });
  }
  return result;
}
