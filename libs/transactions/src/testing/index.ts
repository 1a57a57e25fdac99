export * from './memory-database';
export * from './virtual-clock';
export * from './seeded-random';
export * from './in-memory-coordinator-log';
export * from './in-memory-prepared-resource';
export * from './simulated-network';
export * from './two-phase-world';
export * from './message-transaction-memory';
