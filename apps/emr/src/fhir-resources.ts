import { recordSearch } from '@hospital/fhir';

/** The FHIR resource types the emr serves at /fhir, with their search parameters (also used by its seeds). */
export const EMR_RESOURCES = recordSearch('Patient', 'Practitioner', 'Encounter', 'ServiceRequest');
