import { MigrationClass } from '@hospital/platform';
import { FhirSearchIndexLean1763700000200, FhirStore1763700000000 } from '@hospital/fhir';
import { TransactionLog1763700000100 } from '@hospital/transactions';

/** Migrations of hospital_pacs, in order: the FHIR store and the transaction log come from the libs. */
export const migrations: MigrationClass[] = [
  FhirStore1763700000000,
  TransactionLog1763700000100,
  FhirSearchIndexLean1763700000200,
];
