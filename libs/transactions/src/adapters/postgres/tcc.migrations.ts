import { TccBarrier1765400000000 } from './1765400000000-tcc-barrier.migration';

/** A TCC participant's barrier table (`tx_tcc_barrier`), in order. */
export const tccBarrierMigrations = [TccBarrier1765400000000];
