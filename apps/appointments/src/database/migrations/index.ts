import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import {
  bestEffortMigrations,
  capacityMigrations,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  quotaLedgerMigrations,
  tccBarrierMigrations,
} from '@hospital/transactions';
import { AppointmentsTables1765100000000 } from './1765100000000-appointments-tables.migration';

/**
 * Migrations of hospital_appointments, in order: the FHIR store (Schedule, Slot, Appointment), the
 * best-effort notification log (the confirmations), then the service's own tables (schedules, slots and
 * bookings, with the constraints that refuse overlapping slots and double bookings), then the slots'
 * reservable capacity and its TCC barrier (treatment-plan reservations), the inbox of the quota-cached
 * saga's completion events and the quota ledger.
 */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  ...bestEffortMigrations,
  AppointmentsTables1765100000000,
  ...tccBarrierMigrations,
  ...capacityMigrations,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  ...quotaLedgerMigrations,
];
