import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';

/** Migrations of hospital_referral_inbox: the FHIR store of the recommendations (`Communication`). */
export const migrations: MigrationClass[] = [...fhirStoreMigrations];
