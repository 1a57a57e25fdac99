import { MigrationClass } from '@hospital/platform';
import {
  capacityMigrations,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  quotaLedgerMigrations,
  tccBarrierMigrations,
} from '@hospital/transactions';
import { InventoryTables1763800100000 } from './1763800100000-inventory-tables.migration';

/**
 * Migrations of hospital_pharmacy_inventory, in order: the outbox/inbox tables, stock and reorders, then the
 * reservable drug capacity and its TCC barrier (treatment-plan reservations), then the quota ledger.
 */
export const migrations: MigrationClass[] = [
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  InventoryTables1763800100000,
  ...tccBarrierMigrations,
  ...capacityMigrations,
  ...quotaLedgerMigrations,
];
