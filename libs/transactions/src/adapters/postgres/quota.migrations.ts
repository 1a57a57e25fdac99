import { QuotaLedger1765500000100 } from './1765500000100-quota-ledger.migration';

/** A quota-cache participant's lending record (`tx_quota_epoch`, `tx_quota_op`), after the capacity tables. */
export const quotaLedgerMigrations = [QuotaLedger1765500000100];
