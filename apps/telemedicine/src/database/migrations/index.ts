import { MigrationClass } from '@hospital/platform';
import { fhirStoreMigrations } from '@hospital/fhir';
import { messagingMigrations, threePhaseMigrations } from '@hospital/transactions';

/**
 * Migrations of hospital_telemedicine: the FHIR store (consult requests, virtual sessions, findings,
 * experts and referring sites), and the 3PC log and branch tables (it coordinates consult completions
 * and takes part in them with its own consult record).
 */
export const migrations: MigrationClass[] = [
  ...fhirStoreMigrations,
  ...threePhaseMigrations,
  ...messagingMigrations,
];
