export * from './types';
export * from './coordinator';
