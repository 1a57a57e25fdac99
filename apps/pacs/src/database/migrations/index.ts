import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import { transactionLogMigrations } from '@hospital/transactions';

/** Migrations of hospital_pacs: the FHIR store's and the transaction log's, both from the libs. */
export const migrations: MigrationClass[] = [...fhirStoreMigrations, ...transactionLogMigrations];
