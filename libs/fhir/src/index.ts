export * from './definitions';
export * from './errors/fhir-error-code';
export * from './errors/fhir-exception';
export * from './errors/fhir-exception.filter';
export * from './nest/http-types';
export * from './validation/value-sets';
export * from './validation/fhir-validator';
export * from './store/fhir-store.migration';
