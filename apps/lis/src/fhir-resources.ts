import { recordSearch } from '@hospital/fhir';

/** The FHIR resource types the lis serves at /fhir, with their search parameters (also used by its seeds). */
export const LIS_RESOURCES = recordSearch('Patient', 'ServiceRequest');
