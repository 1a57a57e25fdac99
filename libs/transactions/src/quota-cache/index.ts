export * from './quota-cache';
export * from './quota-saga';
