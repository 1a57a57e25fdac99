export * from './core/gtid';
export * from './core/observer';
export * from './core/clock';
export * from './ports/global-transaction';
export * from './ports/two-phase-commit.ports';
export * from './two-phase-commit';
