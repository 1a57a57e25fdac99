import { ThreePhaseState1765700000000 } from './1765700000000-three-phase-state.migration';
import { transactionLogMigrations } from './transaction-log.migrations';

/** Tables of a 3PC coordinator or participant: the transaction log and branch tables, then the phases. */
export const threePhaseMigrations = [...transactionLogMigrations, ThreePhaseState1765700000000];
