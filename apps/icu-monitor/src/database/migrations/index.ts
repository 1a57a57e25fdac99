import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import { bestEffortMigrations, messagingMigrations } from '@hospital/transactions';
import { IcuMonitorTables1765000000000 } from './1765000000000-icu-monitor-tables.migration';

/**
 * Migrations of hospital_icu_monitor, in order: the FHIR store (Observation, RiskAssessment, Flag), the
 * best-effort notification log (the station's alerts), then the monitor's own tables (beds, each patient's
 * latest vitals and NEWS2 state).
 */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  ...bestEffortMigrations,
  IcuMonitorTables1765000000000,
  ...messagingMigrations,
];
