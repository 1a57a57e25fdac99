import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import { messagingMigrations, transactionLogMigrations } from '@hospital/transactions';

/**
 * Migrations of hospital_lis, all from the libs: the FHIR store's, the transaction log's, and the outbox of
 * its audit trail.
 */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  ...transactionLogMigrations,
  ...messagingMigrations,
];
