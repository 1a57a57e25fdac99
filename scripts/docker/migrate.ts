// The one-shot job of docker/compose.yaml: waits until PostgreSQL, Redis, RabbitMQ and Mosquitto answer a
// real connection, checks PostgreSQL's settings (prepared transactions), creates and migrates every
// service's database, and seeds the reference data the services need (the pharmacy's formulary, the
// telemedicine directory, imaging capacity, stock) and, with HOSPITAL_SEED=demo (the default), the demo
// hospital's patients, practitioners and encounters — what `npm run demo` seeds before it starts the
// services. Unlike `npm run infra` it starts nothing: in Compose the infrastructure is its own containers.
// Idempotent: a second run applies nothing and rewrites nothing.
import { FhirResourceStore, SearchParameterRegistry } from '@hospital/fhir';
import { BaseEnvironment, Database, loadEnvironment } from '@hospital/platform';
/* eslint-disable no-restricted-imports -- the job seeds each service's database with its declared types */
import { EMR_RESOURCES } from '../../apps/emr/src/fhir-resources';
import { LIS_RESOURCES } from '../../apps/lis/src/fhir-resources';
import { PACS_RESOURCES } from '../../apps/pacs/src/fhir-resources';
import { seedImagingCapacity } from '../../apps/pacs/src/database/seeds/imaging-capacity';
import { seedFormulary } from '../../apps/pharmacy/src/dispensing/database/seeds/formulary';
import { seedInventory } from '../../apps/pharmacy/src/inventory/database/seeds/stock';
import { seedConsultDirectory } from '../../apps/telemedicine/src/database/seeds/consult-directory';
/* eslint-enable no-restricted-imports */
import {
  backingServices,
  describeEndpoint,
  displayName,
  endpointsFromEnv,
  ensureDatabases,
  ensurePostgresSettings,
  InfrastructureError,
  waitForService,
} from '../infra/index';
import { demoSeed } from '../lib/demo-hospital';
import { databaseName, ownsDatabase, services, twoPhaseServices } from '../services';

const log = (line: string): void => void process.stderr.write(`migrate: ${line}\n`);

/** How long each backing service may take to answer (Compose starts this job once they are healthy). */
const WAIT_MS = 120_000;

/** The record types each 2PC service keeps, as its FHIR module declares them. */
const SERVED = { emr: EMR_RESOURCES, lis: LIS_RESOURCES, pacs: PACS_RESOURCES };

async function withDatabase<T>(service: string, work: (db: Database) => Promise<T>): Promise<T> {
  const env = loadEnvironment(BaseEnvironment);
  const db = new Database(
    {
      host: env.PGHOST,
      port: env.PGPORT,
      user: env.PGUSER,
      password: env.PGPASSWORD,
      database: databaseName(service),
      poolSize: 2,
    },
    'hospital-docker-seed',
  );
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

/** The reference data every service needs to be useful: upserts under fixed ids, written only when they differ. */
async function seedReference(): Promise<void> {
  const formulary = await withDatabase('pharmacy', (db) => seedFormulary(db));
  log(`pharmacy: ${formulary.medications} formulary drugs (${formulary.written} written)`);
  const stock = await withDatabase('pharmacy-inventory', (db) => seedInventory(db));
  log(`pharmacy-inventory: ${stock.lines} stock lines (${stock.inserted} new)`);
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const imaging = await withDatabase('pacs', (db) => seedImagingCapacity(db, tomorrow));
  log(
    `pacs: imaging capacity of ${imaging.resources} modality days from ${tomorrow} (${imaging.registered} new)`,
  );
  const directory = await withDatabase('telemedicine', (db) => seedConsultDirectory(db));
  log(`telemedicine: ${directory.resources} experts and referring sites (${directory.written} written)`);
}

/** The demo hospital's synthetic patients, practitioners and encounters (pat-0001…, prac-0001…, enc-0001…). */
async function seedDemo(): Promise<void> {
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

async function main(): Promise<void> {
  const began = Date.now();
  const seed = process.env.HOSPITAL_SEED ?? 'demo';
  if (!['demo', 'reference', 'none'].includes(seed))
    throw new InfrastructureError(`HOSPITAL_SEED=${seed}: expected demo, reference or none`);
  const endpoints = endpointsFromEnv();
  for (const service of backingServices) {
    const probe = await waitForService(service, 'up', WAIT_MS, endpoints);
    if (!probe.up)
      throw new InfrastructureError(
        `${displayName[service]} does not answer on ${describeEndpoint(service, endpoints)} after ${WAIT_MS / 1000} s: ${probe.reason}`,
      );
  }
  log(`PostgreSQL, Redis, RabbitMQ and Mosquitto answer`);
  await ensurePostgresSettings(endpoints, log);
  const targets = services.filter(ownsDatabase).map((s) => ({
    database: databaseName(s.name),
    migrations: s.migrations,
  }));
  const databases = await ensureDatabases(endpoints, targets, log);
  const applied = databases.reduce((n, d) => n + d.applied.length, 0);
  log(`${databases.length} databases ready (${applied} migration(s) applied)`);
  if (seed !== 'none') await seedReference();
  if (seed === 'demo') await seedDemo();
  log(`done in ${((Date.now() - began) / 1000).toFixed(1)} s`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const text =
      error instanceof Error
        ? process.env.DEBUG
          ? (error.stack ?? error.message)
          : error.message
        : String(error);
    log(`error: ${text}`);
    process.exit(1);
  },
);
