export * from './types';
export * from './orchestrator';
