import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import {
  MessageBarrierTable1763800000200,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
} from '@hospital/transactions';
import { SupplyChainTables1763800001000 } from './1763800001000-supply-chain-tables.migration';

/**
 * Migrations of hospital_pharmacy_supply_chain, in order: the FHIR store (SupplyRequest, SupplyDelivery),
 * the outbox / inbox tables, the two-phase message barrier, then the supply chain's own tables.
 */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  MessageBarrierTable1763800000200,
  SupplyChainTables1763800001000,
];
