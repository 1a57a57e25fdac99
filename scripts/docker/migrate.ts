// The one-shot job of docker/compose.yaml: waits until PostgreSQL, Redis, RabbitMQ and Mosquitto answer a
// real connection, checks PostgreSQL's settings (prepared transactions), creates and migrates every
// service's database, and seeds the reference data the services need (the pharmacy's formulary, the
// telemedicine directory, imaging capacity, stock) and, with HOSPITAL_SEED=demo (the default), the demo
// hospital's patients, practitioners and encounters — what `npm run demo` seeds before it starts the
// services. Unlike `npm run infra` it starts nothing: in Compose the infrastructure is its own containers.
// Idempotent: a second run applies nothing and rewrites nothing.
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
import { seedDemoRecords, seedReferenceData } from '../lib/demo-seed';
import { databaseName, ownsDatabase, services } from '../services';

const log = (line: string): void => void process.stderr.write(`migrate: ${line}\n`);

/** How long each backing service may take to answer (Compose starts this job once they are healthy). */
const WAIT_MS = 120_000;

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
  if (seed !== 'none') await seedReferenceData(log);
  if (seed === 'demo') await seedDemoRecords(log);
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
