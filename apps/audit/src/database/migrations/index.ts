import { MigrationClass } from '@hospital/platform';
import { messagingMigrations } from '@hospital/transactions';
import { AuditEvent1766100000000 } from './1766100000000-audit-event.migration';

/** Migrations of hospital_audit: the inbox (and outbox) tables from the lib, then the hash-chained trail. */
export const migrations: MigrationClass[] = [...messagingMigrations, AuditEvent1766100000000];
