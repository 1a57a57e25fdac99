import { FhirStoreLean1763900000000 } from './1763900000000-fhir-store-lean.migration';
import { FhirSearchIndexLean1763700000200 } from './1763700000200-fhir-search-index-lean.migration';
import { FhirStore1763700000000 } from './1763700000000-fhir-store.migration';

/** The FHIR store's schema, every migration of it: a service using the store lists these with its own. */
export const fhirStoreMigrations = [
  FhirStore1763700000000,
  FhirSearchIndexLean1763700000200,
  FhirStoreLean1763900000000,
];
