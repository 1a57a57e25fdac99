import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import { capacityMigrations, tccBarrierMigrations, transactionLogMigrations } from '@hospital/transactions';

/**
 * Migrations of hospital_pacs, all from the libs: the FHIR store's, the transaction log's (2PC participant),
 * then the imaging capacity's ledger and its TCC barrier (treatment-plan reservations).
 */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  ...transactionLogMigrations,
  ...tccBarrierMigrations,
  ...capacityMigrations,
];
