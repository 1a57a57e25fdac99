// What the demo hospital is seeded with, shared by `npm run demo` and the Compose migrate job
// (scripts/docker/migrate.ts): the reference data every service needs (the pharmacy's formulary and stock,
// imaging capacity, the telemedicine directory) and the demo's patients, practitioners and encounters.
// Every record is an idempotent upsert under its fixed id, written only when it differs.
import { FhirResourceStore, SearchParameterRegistry } from '@hospital/fhir';
import { BaseEnvironment, Database, type DatabaseSettings, loadEnvironment } from '@hospital/platform';
/* eslint-disable no-restricted-imports -- the seed writes each service's database with its declared types */
import { EMR_RESOURCES } from '../../apps/emr/src/fhir-resources';
import { LIS_RESOURCES } from '../../apps/lis/src/fhir-resources';
import { PACS_RESOURCES } from '../../apps/pacs/src/fhir-resources';
import { seedImagingCapacity } from '../../apps/pacs/src/database/seeds/imaging-capacity';
import { seedFormulary } from '../../apps/pharmacy/src/dispensing/database/seeds/formulary';
import { seedInventory } from '../../apps/pharmacy/src/inventory/database/seeds/stock';
import { seedConsultDirectory } from '../../apps/telemedicine/src/database/seeds/consult-directory';
/* eslint-enable no-restricted-imports */
import { databaseName, twoPhaseServices } from '../services';
import { demoSeed } from './demo-hospital';

type Log = (line: string) => void;

/** The record types each 2PC service keeps, as its FHIR module declares them. */
const SERVED = { emr: EMR_RESOURCES, lis: LIS_RESOURCES, pacs: PACS_RESOURCES };

/**
 * Runs `work` on a small pool to one service's database: its own (settings from PG* of the environment),
 * or the one `settings` name (a spec's).
 */
async function withDatabase<T>(
  service: string,
  work: (db: Database) => Promise<T>,
  settings?: DatabaseSettings,
): Promise<T> {
  const env = loadEnvironment(BaseEnvironment);
  const db = new Database(
    settings ?? {
      host: env.PGHOST,
      port: env.PGPORT,
      user: env.PGUSER,
      password: env.PGPASSWORD,
      database: databaseName(service),
      poolSize: 2,
    },
    'hospital-demo-seed',
  );
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

/** The demo's stock into an inventory database of a spec's (the formulary's drugs at the pharmacy and wards). */
export async function seedStock(settings: DatabaseSettings): Promise<number> {
  return (await withDatabase('pharmacy-inventory', (db) => seedInventory(db), settings)).lines;
}

/** The demo hospital's patients, practitioners and encounters (pat-0001…, prac-0001…, enc-0001…). */
export async function seedDemoRecords(log: Log): Promise<void> {
  for (const { name } of twoPhaseServices) {
    await withDatabase(name, async (db) => {
      const store = new FhirResourceStore(new SearchParameterRegistry(SERVED[name]));
      const written = await db.transaction(async (tx) => {
        let changed = 0;
        for (const resource of demoSeed[name])
          if ((await store.upsertCopy(tx, resource)).changed) changed += 1;
        return changed;
      });
      log(`${name}: ${demoSeed[name].length} demo records (${written} written)`);
    });
  }
}

/** The reference data every service needs to be useful. */
export async function seedReferenceData(log: Log): Promise<void> {
  const formulary = await withDatabase('pharmacy', (db) => seedFormulary(db));
  log(`pharmacy: ${formulary.medications} formulary drugs (${formulary.written} written)`);
  const stock = await withDatabase('pharmacy-inventory', (db) => seedInventory(db));
  log(`pharmacy-inventory: ${stock.lines} stock lines (${stock.inserted} new)`);
  // From tomorrow (UTC), as the demo's consult slots.
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const imaging = await withDatabase('pacs', (db) => seedImagingCapacity(db, tomorrow));
  log(
    `pacs: imaging capacity of ${imaging.resources} modality days from ${tomorrow} (${imaging.registered} new)`,
  );
  const directory = await withDatabase('telemedicine', (db) => seedConsultDirectory(db));
  log(`telemedicine: ${directory.resources} experts and referring sites (${directory.written} written)`);
}
