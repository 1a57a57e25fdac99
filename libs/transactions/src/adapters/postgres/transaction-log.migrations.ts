import { TransactionKeys1764960000000 } from './1764960000000-transaction-keys.migration';
import { TransactionLog1763700000100 } from './1763700000100-transaction-log.migration';
import { TransactionResolutions1763700000500 } from './1763700000500-transaction-resolutions.migration';

/** The transaction library's tables for a 2PC coordinator or participant, in order. */
export const transactionLogMigrations = [
  TransactionLog1763700000100,
  TransactionResolutions1763700000500,
  TransactionKeys1764960000000,
];
