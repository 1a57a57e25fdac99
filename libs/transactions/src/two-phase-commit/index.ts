export * from './types';
export * from './coordinator';
export * from './participant';
