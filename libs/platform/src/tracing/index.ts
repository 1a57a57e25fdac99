export * from './tracing.environment';
export * from './tracing';
export * from './spans';
