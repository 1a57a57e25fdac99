import { SagaLog1765200000000 } from './1765200000000-saga-log.migration';

/** The orchestrated saga's tables (`tx_saga`, `tx_saga_step`), in order. */
export const sagaMigrations = [SagaLog1765200000000];
