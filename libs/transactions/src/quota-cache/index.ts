export * from './quota-cache';
