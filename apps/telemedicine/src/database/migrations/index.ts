import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';

/**
 * Migrations of hospital_telemedicine: the FHIR store (consult requests, virtual sessions, findings,
 * experts and referring sites). The consult completion's transaction log comes with its protocol.
 */
export const migrations: MigrationClass[] = [...fhirStoreMigrations];
