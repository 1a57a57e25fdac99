export * from './observability';
export * from './recovery-loop';
export * from './two-phase-commit.controllers';
export * from './two-phase-commit.module';
export * from './message-transaction.controllers';
export * from './message-transaction.module';
