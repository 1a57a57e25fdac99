import {
  buildServiceConfig,
  MessagingEnvironment,
  RedisEnvironment,
  ServiceConfigOf,
} from '@hospital/platform';
import { BestEffortEnvironment, QuotaCacheEnvironment } from '@hospital/transactions';
import { ConfirmationsEnvironment } from './confirmations/confirmations.environment';

/**
 * What the appointments service reads beyond the platform's own settings: where confirmations go (SMTP,
 * the SMS and push gateways, the channels of each recipient) and how patiently they are delivered; the quota
 * cache of its slots (Redis) and the completion events that apply it (RabbitMQ).
 */
export const APPOINTMENTS_PIECES = [
  ConfirmationsEnvironment,
  BestEffortEnvironment,
  MessagingEnvironment,
  RedisEnvironment,
  QuotaCacheEnvironment,
] as const;

/**
 * The appointments service: schedules, slots and bookings. It calls no other service; confirmations leave
 * by best-effort notification to an SMTP server and the SMS and push gateways.
 */
export const APPOINTMENTS_SERVICE = { name: 'appointments', defaultPort: 3006 };

export type AppointmentsConfig = ServiceConfigOf<typeof APPOINTMENTS_PIECES>;

export function appointmentsConfig(env: NodeJS.ProcessEnv = process.env): AppointmentsConfig {
  return buildServiceConfig(APPOINTMENTS_SERVICE, APPOINTMENTS_PIECES, env);
}
