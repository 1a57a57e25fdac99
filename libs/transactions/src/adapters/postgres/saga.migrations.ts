import { SagaLog1765100000000 } from './1765100000000-saga-log.migration';

/** The orchestrated saga's tables (`tx_saga`, `tx_saga_step`), in order. */
export const sagaMigrations = [SagaLog1765100000000];
