export * from './redis-quota-store';
