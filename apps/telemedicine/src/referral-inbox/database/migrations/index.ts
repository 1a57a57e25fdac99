import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import { messagingMigrations, threePhaseMigrations } from '@hospital/transactions';

/**
 * Migrations of hospital_referral_inbox: the FHIR store of the recommendations (`Communication`), and the
 * branch tables of the consult completions it takes part in (3PC).
 */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  ...threePhaseMigrations,
  ...messagingMigrations,
];
