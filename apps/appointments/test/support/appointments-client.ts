import type { AddressInfo } from 'node:net';
import type { Appointment, Schedule, Slot } from '@medplum/fhirtypes';
import type { INestApplication } from '@nestjs/common';
import { FhirExceptionFilter } from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { AppointmentsModule } from '../../src/appointments.module';
import { appointmentsConfig } from '../../src/config';
import { migrations } from '../../src/database/migrations';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/** The appointments service on a fresh database, over real HTTP, for one spec file. */
export interface AppointmentsUnderTest {
  app: INestApplication;
  db: Database;
  base: string;
  close(): Promise<void>;
}

/** `env` adds or overrides variables (the confirmation channels' addresses, the delivery policy). */
export async function startAppointments(env: NodeJS.ProcessEnv = {}): Promise<AppointmentsUnderTest> {
  const created = await createTestDatabase('appointments', migrations);
  const db = new Database(created.settings, 'appointments-test');
  const config = appointmentsConfig({
    ...process.env,
    PGDATABASE: created.settings.database,
    LOG_LEVEL: 'error',
    ...env,
  });
  const app = await createServiceApp(AppointmentsModule.forRoot(config), config, {
    filters: [new FhirExceptionFilter()],
  });
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}`;
  return {
    app,
    db,
    base,
    close: async () => {
      await app.close();
      await db.close();
      await created.drop();
    },
  };
}

export interface Reply<T = Record<string, unknown>> {
  status: number;
  contentType: string | null;
  body: T;
}

/** A request to the service; bodies are sent as `application/fhir+json` unless `type` says otherwise. */
export async function call<T = Record<string, unknown>>(
  base: string,
  path: string,
  init: {
    method?: string;
    body?: unknown;
    type?: string;
    raw?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Reply<T>> {
  const hasBody = init.body !== undefined || init.raw !== undefined;
  const response = await fetch(`${base}${path}`, {
    method: init.method ?? (hasBody ? 'POST' : 'GET'),
    headers: {
      authorization: testAuthorizationFor(path),
      ...(hasBody ? { 'content-type': init.type ?? 'application/fhir+json' } : {}),
      ...init.headers,
    },
    body: init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
  });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: (text === '' ? {} : JSON.parse(text)) as T,
  };
}

export const SERVICE_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/service-type';

/** The day the specs book on (the service does not refuse past slots, but a clinic books ahead). */
export const DAY = '2026-12-07';
/** `HH:MM` of DAY, in UTC. */
export const at = (time: string): string => `${DAY}T${time}:00Z`;

export function schedule(
  practitionerId: string,
  services: string[] = ['57'],
  overrides: Partial<Schedule> = {},
): Schedule {
  return {
    resourceType: 'Schedule',
    active: true,
    actor: [{ reference: `Practitioner/${practitionerId}` }],
    serviceType: services.map((code) => ({ coding: [{ system: SERVICE_TYPE_SYSTEM, code }] })),
    planningHorizon: { start: at('08:00'), end: at('18:00') },
    ...overrides,
  };
}

export function slot(scheduleId: string, start: string, end: string, overrides: Partial<Slot> = {}): Slot {
  return {
    resourceType: 'Slot',
    schedule: { reference: `Schedule/${scheduleId}` },
    serviceType: [{ coding: [{ system: SERVICE_TYPE_SYSTEM, code: '57' }] }],
    status: 'free',
    start: at(start),
    end: at(end),
    ...overrides,
  };
}

export function appointment(
  slotId: string,
  patientId: string,
  practitionerId: string,
  overrides: Partial<Appointment> = {},
): Appointment {
  return {
    resourceType: 'Appointment',
    status: 'booked',
    slot: [{ reference: `Slot/${slotId}` }],
    participant: [
      { actor: { reference: `Patient/${patientId}` }, status: 'accepted' },
      { actor: { reference: `Practitioner/${practitionerId}` }, status: 'accepted' },
    ],
    ...overrides,
  };
}

/** Row counts of every table a write of the service touches. */
export async function counts(db: Database): Promise<Record<string, number>> {
  return (
    await db.query<Record<string, number>>(
      `SELECT (SELECT count(*)::int FROM appointment_schedule) AS schedules,
              (SELECT count(*)::int FROM appointment_slot) AS slots,
              (SELECT count(*)::int FROM appointment_slot WHERE status = 'busy') AS busy_slots,
              (SELECT count(*)::int FROM appointment_booking) AS bookings,
              (SELECT count(*)::int FROM appointment_booking WHERE status = 'booked') AS booked,
              (SELECT count(*)::int FROM fhir_resource) AS resources,
              (SELECT count(*)::int FROM fhir_resource_history) AS history,
              (SELECT count(*)::int FROM fhir_search_index) AS index_rows,
              (SELECT count(*)::int FROM tx_capacity) AS capacity_resources`,
    )
  )[0];
}
