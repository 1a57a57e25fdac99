import { MigrationClass } from '@hospital/platform';
import { messagingMigrations } from '@hospital/transactions';
import { IcuStationTables1765100000000 } from './1765100000000-icu-station-tables.migration';

/** Migrations of hospital_icu_station: the alerts received and the reconciliation cursor. */
export const migrations: MigrationClass[] = [IcuStationTables1765100000000, ...messagingMigrations];
