export * from './quota-cache';
export * from './quota-saga';
export * from './completion-messages';
