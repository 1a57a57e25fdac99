import { BestEffortTables1765000000000 } from './1765000000000-best-effort-tables.migration';

/** The best-effort notification style's tables (`tx_notification`, `tx_notification_attempt`), in order. */
export const bestEffortMigrations = [BestEffortTables1765000000000];
