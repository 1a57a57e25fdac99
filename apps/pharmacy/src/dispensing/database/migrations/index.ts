import { MigrationClass } from '@hospital/platform';
import { FhirSearchIndexLean1763700000200, FhirStore1763700000000 } from '@hospital/fhir';
import { MessagingTables1763800000000, OutboxLeanIndexes1763800000300 } from '@hospital/transactions';

/** Migrations of hospital_pharmacy, in order: the FHIR store and the outbox/inbox tables come from the libs. */
export const migrations: MigrationClass[] = [
  FhirStore1763700000000,
  FhirSearchIndexLean1763700000200,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
];
