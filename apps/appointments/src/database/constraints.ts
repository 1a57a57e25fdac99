import { pgErrorCode, PgErrorCode } from '@hospital/platform';

/** The constraints whose violations the service answers as refusals rather than failures. */
export const CONSTRAINTS = {
  /** Partial unique index: one booking that is not cancelled per slot. */
  activeSlotBooking: 'appointment_booking_active_slot',
  /** Exclusion constraint: no two overlapping slots in one schedule. */
  noSlotOverlap: 'appointment_slot_no_overlap',
} as const;

/** Postgres' exclusion_violation, which the platform's PgErrorCode does not list. */
const EXCLUSION_VIOLATION = '23P01';

/**
 * The name of the unique or exclusion constraint `error` violated (a TypeORM QueryFailedError or a pg
 * error), or undefined for any other error.
 */
export function violatedConstraint(error: unknown): string | undefined {
  const code = pgErrorCode(error);
  if (code !== PgErrorCode.UniqueViolation && code !== EXCLUSION_VIOLATION) return undefined;
  const driverError = (error as { driverError?: unknown }).driverError ?? error;
  const constraint = (driverError as { constraint?: unknown }).constraint;
  return typeof constraint === 'string' ? constraint : undefined;
}
