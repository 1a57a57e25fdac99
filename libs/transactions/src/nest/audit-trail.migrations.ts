import { MessagingTables1763800000000 } from '../adapters/postgres/1763800000000-messaging-tables.migration';
import { OutboxLeanIndexes1763800000300 } from '../adapters/postgres/1763800000300-outbox-lean-indexes.migration';
import { OutboxUnroutable1763800000400 } from '../adapters/postgres/1763800000400-outbox-unroutable.migration';
import { OutboxTraceContext1766600000000 } from '../adapters/postgres/1766600000000-outbox-trace-context.migration';

/** The outbox and inbox tables, in order: what a service needs for `MessagingModule` and its audit trail. */
export const messagingMigrations = [
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
];
