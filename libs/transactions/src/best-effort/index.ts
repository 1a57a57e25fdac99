export * from './backoff';
export * from './dispatcher';
