import { QuotaLedger1765500000100 } from './1765500000100-quota-ledger.migration';
import { QuotaSagaLog1765500000200 } from './1765500000200-quota-saga-log.migration';
import { QuotaSagaLogListing1766500000200 } from './1766500000200-quota-saga-log-listing.migration';
import { QuotaSagaTrace1766600000100 } from './1766600000100-quota-saga-trace.migration';

/** A quota-cache participant's lending record (`tx_quota_epoch`, `tx_quota_op`), after the capacity tables. */
export const quotaLedgerMigrations = [QuotaLedger1765500000100];

/** A quota-cached saga orchestrator's log (`tx_quota_saga`). */
export const quotaSagaLogMigrations = [
  QuotaSagaLog1765500000200,
  QuotaSagaLogListing1766500000200,
  QuotaSagaTrace1766600000100,
];
