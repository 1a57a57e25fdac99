export * from './types';
export * from './server';
export * from './producer';
