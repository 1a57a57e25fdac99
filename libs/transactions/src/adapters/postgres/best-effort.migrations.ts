import { BestEffortTables1765000000000 } from './1765000000000-best-effort-tables.migration';
import { NotificationGtid1766500000000 } from './1766500000000-notification-gtid.migration';

/** The best-effort notification style's tables (`tx_notification`, `tx_notification_attempt`), in order. */
export const bestEffortMigrations = [BestEffortTables1765000000000, NotificationGtid1766500000000];
