import { buildServiceConfig, ServiceConfigOf } from '@hospital/platform';

/** What the appointments service reads beyond the platform's own settings: nothing yet. */
export const APPOINTMENTS_PIECES = [] as const;

/**
 * The appointments service: schedules, slots and bookings. It calls no other service (yet): the
 * confirmations to clinicians and patients come with the best-effort notification library.
 */
export const APPOINTMENTS_SERVICE = { name: 'appointments', defaultPort: 3006 };

export type AppointmentsConfig = ServiceConfigOf<typeof APPOINTMENTS_PIECES>;

export function appointmentsConfig(env: NodeJS.ProcessEnv = process.env): AppointmentsConfig {
  return buildServiceConfig(APPOINTMENTS_SERVICE, APPOINTMENTS_PIECES, env);
}
