import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import { bestEffortMigrations, capacityMigrations, tccBarrierMigrations } from '@hospital/transactions';
import { AppointmentsTables1765100000000 } from './1765100000000-appointments-tables.migration';

/**
 * Migrations of hospital_appointments, in order: the FHIR store (Schedule, Slot, Appointment), the
 * best-effort notification log (the confirmations), then the service's own tables (schedules, slots and
 * bookings, with the constraints that refuse overlapping slots and double bookings), then the slots'
 * reservable capacity and its TCC barrier (treatment-plan reservations).
 */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  ...bestEffortMigrations,
  AppointmentsTables1765100000000,
  ...tccBarrierMigrations,
  ...capacityMigrations,
];
