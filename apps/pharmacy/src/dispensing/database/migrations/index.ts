import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import {
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
} from '@hospital/transactions';

/** Migrations of hospital_pharmacy: the FHIR store's and the outbox/inbox tables, both from the libs. */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
];
