export * from './outbox-relay';
export * from './inbox-consumer';
