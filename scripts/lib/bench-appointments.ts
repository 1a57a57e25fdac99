// The `appointments` bench: many clients racing for the same slots. The service runs as a real process on
// its own port and a fresh database (`hospital_appointments_bench`), its confirmations going to an SMTP
// sink and SMS and push gateways in this process (`confirmation-sinks.ts`). Each client, in a closed loop:
// asks `/api/slots/free` for a practitioner's free slots on the earliest day that has any, picks one of the
// first few at random and books it (`POST /fhir/Appointment`). With about eight clients per practitioner
// and three candidate slots, several clients target the same slot: one booking wins, the others are
// refused with a 409 (expected, not an error). After the measured phase the bench waits for the
// confirmations to arrive, then counts double bookings in the database.
import { randomBytes } from 'node:crypto';
import { serviceDatabaseName } from '@hospital/platform';
import { endpointsFromEnv, ensureDatabases } from '../infra/index';
import { findService, repositoryRoot, serviceEntry, serviceEnv } from '../services';
import { withClient } from './bench-cluster';
import { cpuSnapshot, cpuUse, type CpuUse } from './bench-cpu';
import { createSchedule, createSlots, SERVICE_TYPE_SYSTEM } from './appointments-seeding';
import { failureSummary, getJson, keepAliveAgent, postFhir } from './bench-http';
import { appointmentBooking } from './sample-resources';
import { runLoad, type Outcome } from './bench-load';
import { type BenchResultBase, type BenchRunOptions, Latencies, percentile, round } from './bench-report';
import { ConfirmationSinks } from './confirmation-sinks';
import { ServiceProcess } from './service-process';

const SERVICE = 'appointments';
const DATABASE = serviceDatabaseName(SERVICE, 'bench');

/** The bench's ports: the service, the SMTP sink, the SMS and the push gateway. */
export const APPOINTMENTS_BENCH_PORTS = { service: 3406, smtp: 3425, sms: 3426, push: 3427 } as const;

const SERVICE_TYPE = { system: SERVICE_TYPE_SYSTEM, code: '57' };
const SLOT_MINUTES = 15;
const SLOTS_PER_DAY = (24 * 60) / SLOT_MINUTES;
/** The first day slots are seeded on (a clinic books ahead; the service does not refuse past slots). */
const FIRST_DAY = Date.UTC(2027, 0, 4);
const DAY_MS = 86_400_000;
/** Clients per practitioner: how many race for one practitioner's earliest slots. */
const CLIENTS_PER_PRACTITIONER = 8;
/** Each client books one of the first CHOICES free slots of the day, at random. */
const CHOICES = 3;
/** How long the schedules are open: more days than any run books. */
const SCHEDULE_DAYS = 366;
/**
 * Slots are seeded twice: before the warm-up for WARMUP_BOOKINGS_PER_S, then before the measured phase for
 * SLOT_MARGIN times the warm-up's booking rate over the measured phase. A run that still books them all
 * stops booking and says so (`slots_exhausted`).
 */
const WARMUP_BOOKINGS_PER_S = 300;
const SLOT_MARGIN = 2;
/** How long the bench waits for the confirmations of the measured phase after it. */
const DRAIN_TIMEOUT_MS = 60_000;

export interface BenchAppointmentsResult extends BenchResultBase {
  scenario: 'appointments';
  /** Bookings answered 201 per second (= throughput_per_s). */
  bookings_per_s: number;
  /** Booking attempts refused with 409 because another client took the slot first (not errors). */
  refused_taken: number;
  /**
   * Counted in the database after the run: bookings that are not cancelled and overlap an earlier one of
   * the same practitioner (the same slot held twice counts once). Must be 0.
   */
  double_bookings: number;
  /** Of which the same slot held by two bookings (`appointment_booking`), and booked Appointments in the FHIR store sharing a slot. */
  double_bookings_detail: { same_slot: number; fhir_same_slot: number; overlapping_times: number };
  /** Confirmations of the measured phase's bookings the sinks received: distinct idempotency keys. */
  notifications_delivered: number;
  /** Confirmations the service wrote for those bookings (`tx_notification` rows). */
  notifications_expected: number;
  /** Of those, rows the service marked delivered, read after the wait. */
  notifications_delivered_in_store: number;
  /** Repeats the sinks received (at-least-once delivery), over the whole run. */
  notifications_duplicates: number;
  /** Booking answered → confirmation received, over the measured phase's confirmations, ms. */
  confirmation_lag_p50_ms: number;
  confirmation_lag_p99_ms: number;
  /** Latency of the 409 refusals and of the free-slot searches, ms. */
  refusal_p50_ms: number;
  search_p50_ms: number;
  search_p99_ms: number;
  /** Every practitioner's seeded slots were booked before the end (bookings_per_s is then too low). */
  slots_exhausted: boolean;
  practitioners: number;
  seeded_slots: number;
  warmup_s: number;
  warmup_completed: number;
  elapsed_s: number;
  /** From the end of the measured phase until every confirmation had arrived (or the wait gave up). */
  drain_s: number;
  bookings_in_database: number;
  cpu_percent: CpuUse;
  peak_rss_mb: Record<string, number | null>;
  error_samples: string[];
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const dayOf = (index: number): string => new Date(FIRST_DAY + index * DAY_MS).toISOString().slice(0, 10);

async function recreateDatabase(): Promise<void> {
  await withClient('postgres', (admin) =>
    admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(DATABASE)} WITH (FORCE)`),
  );
  await ensureDatabases(
    endpointsFromEnv(),
    [{ database: DATABASE, migrations: findService(SERVICE).migrations }],
    () => undefined,
  );
}

/**
 * Every 15-minute slot of days `fromDay` until `toDay` (exclusive) in each schedule: a batch Bundle per
 * schedule and day, a few in flight.
 */
async function seedSlots(base: string, scheduleIds: string[], fromDay: number, toDay: number): Promise<void> {
  const batches = scheduleIds.flatMap((scheduleId) =>
    Array.from({ length: toDay - fromDay }, (_, i) => ({ scheduleId, day: fromDay + i })),
  );
  let next = 0;
  const seeder = async (): Promise<void> => {
    while (next < batches.length) {
      const { scheduleId, day } = batches[next++];
      const starts = Array.from(
        { length: SLOTS_PER_DAY },
        (_, i) => FIRST_DAY + day * DAY_MS + i * SLOT_MINUTES * 60_000,
      );
      const { existing } = await createSlots(base, scheduleId, SERVICE_TYPE, starts, SLOT_MINUTES);
      if (existing > 0) throw new Error(`seeding ${dayOf(day)}: ${existing} slot(s) already there`);
    }
  };
  await Promise.all(Array.from({ length: 3 }, seeder));
}

interface FreeSlot {
  slotId: string;
  start: string;
  end: string;
}

/** Double bookings in the service's database, the relational rows and the FHIR store both. */
async function countDoubleBookings(): Promise<{
  overlapping: number;
  sameSlot: number;
  fhirSameSlot: number;
  bookings: number;
}> {
  return withClient(DATABASE, async (client) => {
    const rows = await client.query<{
      overlapping: string;
      same_slot: string;
      fhir_same_slot: string;
      bookings: string;
    }>(
      `WITH active AS (
         SELECT b.appointment_id, b.practitioner_id, s.start_at, s.end_at
           FROM appointment_booking b JOIN appointment_slot s ON s.slot_id = b.slot_id
          WHERE b.status <> 'cancelled'),
       ordered AS (
         SELECT start_at, max(end_at) OVER (PARTITION BY practitioner_id ORDER BY start_at, appointment_id
                                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_end
           FROM active)
       SELECT (SELECT count(*) FROM ordered WHERE earlier_end > start_at) AS overlapping,
              (SELECT coalesce(sum(n - 1), 0) FROM (
                 SELECT count(*) AS n FROM appointment_booking WHERE status <> 'cancelled'
                  GROUP BY slot_id HAVING count(*) > 1) taken) AS same_slot,
              (SELECT coalesce(sum(n - 1), 0) FROM (
                 SELECT count(*) AS n FROM fhir_resource
                  WHERE resource_type = 'Appointment' AND NOT deleted AND content->>'status' = 'booked'
                  GROUP BY content->'slot'->0->>'reference' HAVING count(*) > 1) taken) AS fhir_same_slot,
              (SELECT count(*) FROM active) AS bookings`,
    );
    const r = rows.rows[0];
    return {
      overlapping: Number(r.overlapping),
      sameSlot: Number(r.same_slot),
      fhirSameSlot: Number(r.fhir_same_slot),
      bookings: Number(r.bookings),
    };
  });
}

/** The measured phase's confirmations as the service's notification log holds them. */
async function storedNotifications(appointmentIds: string[]): Promise<{ key: string; state: string }[]> {
  return withClient(DATABASE, async (client) => {
    const rows = await client.query<{ idempotency_key: string; state: string }>(
      `SELECT idempotency_key, state FROM tx_notification WHERE split_part(idempotency_key, ':', 1) = ANY($1)`,
      [appointmentIds],
    );
    return rows.rows.map((r) => ({ key: r.idempotency_key, state: r.state }));
  });
}

export async function runBenchAppointments(options: BenchRunOptions): Promise<BenchAppointmentsResult> {
  const { concurrency, durationS, warmupS, log } = options;
  const ports = APPOINTMENTS_BENCH_PORTS;
  const run = randomBytes(3).toString('hex');
  const practitioners = Array.from(
    { length: Math.max(1, Math.ceil(concurrency / CLIENTS_PER_PRACTITIONER)) },
    (_, i) => `bench-prac-${String(i + 1).padStart(2, '0')}`,
  );
  const practitionerDaySlots = practitioners.length * SLOTS_PER_DAY;
  const daysFor = (slots: number): number => Math.max(1, Math.ceil(slots / practitionerDaySlots));
  /** Days 0 … seededDays - 1 hold slots. */
  let seededDays = daysFor(WARMUP_BOOKINGS_PER_S * warmupS);
  await recreateDatabase();
  const sinks = new ConfirmationSinks({ smtpPort: ports.smtp, smsPort: ports.sms, pushPort: ports.push });
  await sinks.start().catch((error: unknown) => {
    throw new Error(
      `the confirmation sinks could not listen on ${ports.smtp}, ${ports.sms} and ${ports.push} ` +
        `(another appointments bench running?): ${error instanceof Error ? error.message : String(error)}`,
    );
  });
  let service: ServiceProcess | undefined;
  const agent = keepAliveAgent(concurrency);
  try {
    service = await ServiceProcess.start({
      name: SERVICE,
      entry: serviceEntry(SERVICE),
      execArgv: options.serviceExecArgv,
      env: serviceEnv(SERVICE, {
        PORT: String(ports.service),
        HOST: '127.0.0.1',
        PGDATABASE: DATABASE,
        LOG_LEVEL: 'warn',
        ...sinks.serviceEnv(),
      }),
      port: ports.service,
      cwd: repositoryRoot(),
    });
    const base = `http://127.0.0.1:${ports.service}`;
    log(
      `fresh database ${DATABASE}; appointments on ${ports.service}, confirmations to ${ports.smtp}/${ports.sms}/${ports.push}`,
    );
    const scheduleIds: string[] = [];
    for (const practitioner of practitioners) {
      const horizonEnd = FIRST_DAY + SCHEDULE_DAYS * DAY_MS;
      scheduleIds.push(await createSchedule(base, practitioner, SERVICE_TYPE, FIRST_DAY, horizonEnd));
    }
    const seedSlotDays = async (fromDay: number, toDay: number): Promise<void> => {
      const started = performance.now();
      await seedSlots(base, scheduleIds, fromDay, toDay);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      log(
        `seeded ${practitioners.length} practitioner(s) × ${toDay - fromDay} day(s) × ${SLOTS_PER_DAY} slots in ${seconds} s`,
      );
    };
    await seedSlotDays(0, seededDays);

    // The earliest day that may still have a free slot, per practitioner (shared by every client).
    const dayCursor = practitioners.map(() => 0);
    let exhausted = false;
    let booking = 0;
    let bookLatencies = new Latencies();
    let refusalLatencies = new Latencies();
    let searchLatencies = new Latencies();
    let booked: { id: string; at: number }[] = [];

    /** The first free slots of the practitioner's earliest day that has any, or undefined when all are booked. */
    const findFree = async (p: number): Promise<FreeSlot[] | { error: string } | undefined> => {
      while (dayCursor[p] < seededDays) {
        const day = dayCursor[p];
        const search = await getJson(
          `${base}/api/slots/free?practitioner=${practitioners[p]}&date=${dayOf(day)}&service=${SERVICE_TYPE.code}`,
          { agent },
        );
        if (search.status !== 200) return { error: `free-slot search: ${failureSummary(search)}` };
        searchLatencies.add(search.elapsedMs);
        const free = JSON.parse(search.body) as FreeSlot[];
        if (free.length > 0) return free.slice(0, CHOICES);
        if (dayCursor[p] === day) dayCursor[p] = day + 1;
      }
      return undefined;
    };

    const operation = async (worker: number): Promise<Outcome> => {
      // Each client stays with one practitioner; once that one is fully booked, it moves to another.
      let free: FreeSlot[] | { error: string } | undefined;
      let p = worker % practitioners.length;
      for (;;) {
        free = await findFree(p);
        if (free !== undefined) break;
        const open = practitioners.map((_, i) => i).filter((i) => dayCursor[i] < seededDays);
        if (open.length === 0) {
          exhausted = true;
          await sleep(100);
          return { ok: false, error: 'every seeded slot is booked' };
        }
        p = open[Math.floor(Math.random() * open.length)];
      }
      if ('error' in free) return { ok: false, error: free.error };
      const slot = free[Math.floor(Math.random() * free.length)];
      const n = booking++;
      const answer = await postFhir(
        `${base}/fhir/Appointment`,
        appointmentBooking(slot, `bench-${run}-${n}`, practitioners[p]),
        { agent },
      );
      if (answer.status === 201) {
        bookLatencies.add(answer.elapsedMs);
        booked.push({ id: (JSON.parse(answer.body) as { id: string }).id, at: Date.now() });
        return { ok: true };
      }
      if (answer.status === 409) {
        refusalLatencies.add(answer.elapsedMs);
        return { ok: false, refused: true };
      }
      return { ok: false, error: failureSummary(answer) };
    };

    const warm = options.phase('warm-up', warmupS);
    const warmup = await runLoad({
      concurrency,
      durationMs: warmupS * 1000,
      operation,
      onProgress: (p) => warm.update(p),
    });
    warm.done();
    if (warmup.completed === 0) {
      throw new Error(
        `no booking succeeded during the warm-up: ${warmup.errorSamples.join(' | ') || 'every attempt refused'}`,
      );
    }
    // Enough free slots for the measured phase at SLOT_MARGIN times the warm-up's rate.
    const warmupRate = warmup.completed / (warmup.elapsedMs / 1000);
    const free = seededDays * practitionerDaySlots - warmup.completed;
    const wanted = Math.ceil(SLOT_MARGIN * warmupRate * durationS);
    if (wanted > free) {
      const more = Math.min(SCHEDULE_DAYS - seededDays, daysFor(wanted - free));
      await seedSlotDays(seededDays, seededDays + more);
      seededDays += more;
    }
    exhausted = false;
    bookLatencies = new Latencies();
    refusalLatencies = new Latencies();
    searchLatencies = new Latencies();
    booked = [];

    const measured = options.phase('booking', durationS);
    const processes = { [SERVICE]: service };
    const cpuFrom = cpuSnapshot(processes);
    const load = await runLoad({
      concurrency,
      durationMs: durationS * 1000,
      operation,
      onProgress: (p) => measured.update(p),
    });
    const cpu = cpuUse(cpuFrom, cpuSnapshot(processes));
    measured.done();
    if (exhausted) {
      log(
        `every seeded slot was booked before the end: bookings_per_s is lower than the service could do (raise SLOT_MARGIN)`,
      );
    }

    // The confirmations of the measured phase's bookings: written with them, delivered after the commit.
    const drainStarted = performance.now();
    const ids = booked.map((b) => b.id);
    const stored = await storedNotifications(ids);
    const keys = stored.map((row) => row.key);
    const arrivedCount = () => keys.filter((key) => sinks.arrivalOf(key) !== undefined).length;
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (arrivedCount() < keys.length && Date.now() < deadline) await sleep(100);
    const drainS = (performance.now() - drainStarted) / 1000;
    const delivered = arrivedCount();
    if (delivered < keys.length)
      log(
        `${keys.length - delivered} confirmation(s) had not arrived ${DRAIN_TIMEOUT_MS / 1000} s after the run`,
      );
    const deliveredInStore = (await storedNotifications(ids)).filter((r) => r.state === 'delivered').length;
    const bookedAt = new Map(booked.map((b) => [b.id, b.at]));
    const lags = keys
      .map((key) => {
        const arrived = sinks.arrivalOf(key);
        const answered = bookedAt.get(key.split(':')[0]);
        return arrived === undefined || answered === undefined ? undefined : Math.max(0, arrived - answered);
      })
      .filter((lag): lag is number => lag !== undefined)
      .sort((a, b) => a - b);

    const peak = service.peakRssMb();
    await service.stop();
    const doubles = await countDoubleBookings();
    const latencies = bookLatencies.sorted();
    const searches = searchLatencies.sorted();
    const elapsedS = load.elapsedMs / 1000;
    return {
      scenario: 'appointments',
      concurrency,
      duration_s: durationS,
      completed: load.completed,
      throughput_per_s: round(load.completed / elapsedS),
      p50_ms: round(percentile(latencies, 50)),
      p99_ms: round(percentile(latencies, 99)),
      errors: load.errors,
      bookings_per_s: round(load.completed / elapsedS),
      refused_taken: load.refused,
      double_bookings: Math.max(doubles.overlapping, doubles.sameSlot, doubles.fhirSameSlot),
      double_bookings_detail: {
        same_slot: doubles.sameSlot,
        fhir_same_slot: doubles.fhirSameSlot,
        overlapping_times: doubles.overlapping,
      },
      notifications_delivered: delivered,
      notifications_expected: keys.length,
      notifications_delivered_in_store: deliveredInStore,
      notifications_duplicates: sinks.duplicates,
      confirmation_lag_p50_ms: round(percentile(lags, 50)),
      confirmation_lag_p99_ms: round(percentile(lags, 99)),
      refusal_p50_ms: round(percentile(refusalLatencies.sorted(), 50)),
      search_p50_ms: round(percentile(searches, 50)),
      search_p99_ms: round(percentile(searches, 99)),
      slots_exhausted: exhausted,
      practitioners: practitioners.length,
      seeded_slots: seededDays * practitionerDaySlots,
      warmup_s: warmupS,
      warmup_completed: warmup.completed,
      elapsed_s: round(elapsedS),
      drain_s: round(drainS),
      bookings_in_database: doubles.bookings,
      cpu_percent: cpu,
      peak_rss_mb: { [SERVICE]: peak === undefined ? null : round(peak) },
      error_samples: load.errorSamples,
    };
  } finally {
    agent.destroy();
    await service?.stop();
    await sinks.stop();
  }
}
