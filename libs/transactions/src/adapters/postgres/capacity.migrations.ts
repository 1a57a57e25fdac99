import { Capacity1765500000000 } from './1765500000000-capacity.migration';

/**
 * A participant's reservable capacity (`tx_capacity`, `tx_capacity_claim`), in order. Its TCC routes also
 * need the barrier: a participant's database runs `tccBarrierMigrations` with these.
 */
export const capacityMigrations = [Capacity1765500000000];
