import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import { TransactionLog1763700000100, TransactionResolutions1763700000500 } from '@hospital/transactions';

/** Migrations of hospital_emr: the FHIR store's and the transaction log's, both from the libs. */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  TransactionLog1763700000100,
  TransactionResolutions1763700000500,
];
