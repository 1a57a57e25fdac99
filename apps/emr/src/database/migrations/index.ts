import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import {
  messagingMigrations,
  ThreePhaseState1765700000000,
  transactionLogMigrations,
} from '@hospital/transactions';

/**
 * Migrations of hospital_emr: the FHIR store's and the transaction log's, both from the libs; then the
 * phases of the consult completions it takes part in (3PC).
 */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  ...transactionLogMigrations,
  ThreePhaseState1765700000000,
  ...messagingMigrations,
];
