import { MigrationClass } from '@hospital/platform';
import {
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
} from '@hospital/transactions';
import { SupplierTables1763800002000 } from './1763800002000-supplier-tables.migration';

/** Migrations of hospital_pharmacy_supplier, in order: the outbox / inbox tables, then the supplier's book. */
export const migrations: MigrationClass[] = [
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  SupplierTables1763800002000,
];
