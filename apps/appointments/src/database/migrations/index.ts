import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import { AppointmentsTables1765100000000 } from './1765100000000-appointments-tables.migration';

/**
 * Migrations of hospital_appointments, in order: the FHIR store (Schedule, Slot, Appointment), then the
 * service's own tables (schedules, slots and bookings, with the constraints that refuse overlapping slots
 * and double bookings).
 */
export const migrations: MigrationClass[] = [...fhirStoreMigrations, AppointmentsTables1765100000000];
