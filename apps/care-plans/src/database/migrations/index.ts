import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import {
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  quotaSagaLogMigrations,
  sagaMigrations,
  tccLogMigrations,
} from '@hospital/transactions';
import { CarePlansTables1765600000000 } from './1765600000000-care-plans-tables.migration';

/**
 * Migrations of hospital_care_plans, in order: the FHIR store (CareTeam, CarePlan), the outbox (the
 * quota-cached saga's completion events), the saga log, the TCC coordinator's log and the quota-cached
 * saga's log, then the service's own table (`care_plan`).
 */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  ...sagaMigrations,
  ...tccLogMigrations,
  ...quotaSagaLogMigrations,
  CarePlansTables1765600000000,
];
