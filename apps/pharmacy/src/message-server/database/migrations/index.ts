import { MigrationClass } from '@hospital/platform';
import {
  MessageServerTables1763800000100,
  MessageTraceContext1766600000200,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
} from '@hospital/transactions';

/** Migrations of hospital_pharmacy_messages, in order: the messaging tables, then the server's message table. */
export const migrations: MigrationClass[] = [
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  MessageServerTables1763800000100,
  MessageTraceContext1766600000200,
];
