import { recordSearch } from '@hospital/fhir';

/** The FHIR resource types the pacs serves at /fhir, with their search parameters (also used by its seeds). */
export const PACS_RESOURCES = recordSearch('Patient', 'ServiceRequest');
