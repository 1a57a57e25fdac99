import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import {
  capacityMigrations,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  quotaLedgerMigrations,
  tccBarrierMigrations,
  transactionLogMigrations,
} from '@hospital/transactions';
import { ImagingWorkflow1766300000000 } from './1766300000000-imaging-workflow.migration';

/**
 * Migrations of hospital_pacs, all from the libs: the FHIR store's, the transaction log's (2PC participant),
 * then the imaging capacity's ledger and its TCC barrier (treatment-plan reservations), the inbox of the
 * quota-cached saga's completion events and the quota ledger; then its imaging workflow (orders by
 * accession number, the cursor of the archive's change feed).
 */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  ...transactionLogMigrations,
  ...tccBarrierMigrations,
  ...capacityMigrations,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  ...quotaLedgerMigrations,
  ImagingWorkflow1766300000000,
];
