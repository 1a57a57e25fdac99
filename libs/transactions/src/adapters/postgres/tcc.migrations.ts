import { TccBarrier1765400000000 } from './1765400000000-tcc-barrier.migration';
import { TccLog1765400000100 } from './1765400000100-tcc-log.migration';
import { TccLogCorrelation1766500000100 } from './1766500000100-tcc-log-correlation.migration';

/** A TCC participant's barrier table (`tx_tcc_barrier`), in order. */
export const tccBarrierMigrations = [TccBarrier1765400000000];

/** A TCC coordinator's log (`tx_tcc`), in order. */
export const tccLogMigrations = [TccLog1765400000100, TccLogCorrelation1766500000100];
