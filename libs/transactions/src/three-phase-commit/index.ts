export * from './coordinator';
export * from './participant';
