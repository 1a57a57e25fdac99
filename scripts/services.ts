// The services the scripts (infra, demo, test, bench, faults) drive: where each listens, what it runs,
// and which migrations build its database. Adding a service to the platform means adding it here.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  derivedServiceKey,
  DEV_ISSUER_KEYS_VARIABLE,
  devIssuerEnv,
  devRoleFor,
  loadDevIssuerKeys,
  MigrationClass,
  privateKeyPem,
  seededServiceKeyring,
  servicePublicJwk,
  type ServiceCredentials,
  ServiceTokenSigner,
  type DevIssuerKeys,
  type Role,
  serviceDatabaseName,
  signDevToken,
} from '@hospital/platform';
/* eslint-disable no-restricted-imports -- the scripts are the one place that knows every app's migrations */
import { migrations as emrMigrations } from '../apps/emr/src/database/migrations';
import { migrations as lisMigrations } from '../apps/lis/src/database/migrations';
import { migrations as pacsMigrations } from '../apps/pacs/src/database/migrations';
import { migrations as pharmacyMigrations } from '../apps/pharmacy/src/dispensing/database/migrations';
import { migrations as pharmacyInventoryMigrations } from '../apps/pharmacy/src/inventory/database/migrations';
import { migrations as pharmacySupplyChainMigrations } from '../apps/pharmacy/src/supply-chain/database/migrations';
import { migrations as pharmacySupplierMigrations } from '../apps/pharmacy/src/supplier/database/migrations';
import { migrations as pharmacyMessagesMigrations } from '../apps/pharmacy/src/message-server/database/migrations';
import { migrations as icuMonitorMigrations } from '../apps/icu-monitor/src/database/migrations';
import { migrations as appointmentsMigrations } from '../apps/appointments/src/database/migrations';
import { migrations as icuStationMigrations } from '../apps/icu-station/src/database/migrations';
import { migrations as carePlansMigrations } from '../apps/care-plans/src/database/migrations';
import { migrations as telemedicineMigrations } from '../apps/telemedicine/src/database/migrations';
import { migrations as referralInboxMigrations } from '../apps/telemedicine/src/referral-inbox/database/migrations';
import { migrations as auditMigrations } from '../apps/audit/src/database/migrations';
/* eslint-enable no-restricted-imports */

export interface ServiceDefinition {
  /** Short name: used for the database (`hospital_<name>`), logs and the `<NAME>_URL` variable. */
  readonly name: string;
  /** Default HTTP port (DESIGN.md section 1). */
  readonly port: number;
  /** Compiled entry point, relative to the repository root. */
  readonly entry: string;
  /** The service's migration classes, in order. */
  readonly migrations: readonly MigrationClass[];
  /** False for a service without a database of its own (the gateway): infra creates none for it. */
  readonly database?: boolean;
}

/** Whether infra creates and migrates a database for the service. */
export function ownsDatabase(service: ServiceDefinition): boolean {
  return service.database !== false;
}

/** The EMR record update's services (two-phase commit): what the 2PC bench and fault runners start. */
export const twoPhaseServices = [
  { name: 'emr', port: 3001, entry: 'dist/apps/emr/src/main.js', migrations: emrMigrations },
  { name: 'lis', port: 3002, entry: 'dist/apps/lis/src/main.js', migrations: lisMigrations },
  { name: 'pacs', port: 3003, entry: 'dist/apps/pacs/src/main.js', migrations: pacsMigrations },
] as const satisfies readonly ServiceDefinition[];

/** The pharmacy's parts (outbox / inbox and two-phase messages over RabbitMQ), each its own process and database. */
export const pharmacyServices = [
  {
    name: 'pharmacy',
    port: 3004,
    entry: 'dist/apps/pharmacy/src/dispensing/main.js',
    migrations: pharmacyMigrations,
  },
  {
    name: 'pharmacy-inventory',
    port: 3041,
    entry: 'dist/apps/pharmacy/src/inventory/main.js',
    migrations: pharmacyInventoryMigrations,
  },
  {
    name: 'pharmacy-supply-chain',
    port: 3042,
    entry: 'dist/apps/pharmacy/src/supply-chain/main.js',
    migrations: pharmacySupplyChainMigrations,
  },
  {
    name: 'pharmacy-supplier',
    port: 3043,
    entry: 'dist/apps/pharmacy/src/supplier/main.js',
    migrations: pharmacySupplierMigrations,
  },
  {
    name: 'pharmacy-messages',
    port: 3044,
    entry: 'dist/apps/pharmacy/src/message-server/main.js',
    migrations: pharmacyMessagesMigrations,
  },
] as const satisfies readonly ServiceDefinition[];

/**
 * The ICU: the monitor (vital signs, NEWS2 scores and alerts) and the central monitoring station it
 * notifies by best-effort notification.
 */
export const icuServices = [
  {
    name: 'icu-monitor',
    port: 3005,
    entry: 'dist/apps/icu-monitor/src/main.js',
    migrations: icuMonitorMigrations,
  },
  {
    name: 'icu-station',
    port: 3051,
    entry: 'dist/apps/icu-station/src/main.js',
    migrations: icuStationMigrations,
  },
] as const satisfies readonly ServiceDefinition[];

/** Appointments (schedules, slots, bookings; confirmations through best-effort notification, later). */
export const appointmentServices = [
  {
    name: 'appointments',
    port: 3006,
    entry: 'dist/apps/appointments/src/main.js',
    migrations: appointmentsMigrations,
  },
] as const satisfies readonly ServiceDefinition[];

/**
 * Multidisciplinary treatment plans: care-plans orchestrates them (saga, quota-cached saga or TCC) over
 * appointments, the PACS and the pharmacy's inventory, and checks patients and practitioners in the EMR.
 */
export const carePlanServices = [
  {
    name: 'care-plans',
    port: 3007,
    entry: 'dist/apps/care-plans/src/main.js',
    migrations: carePlansMigrations,
  },
] as const satisfies readonly ServiceDefinition[];

/**
 * Telemedicine consults: telemedicine coordinates each consult's completion (three-phase commit) with the
 * EMR and the referring site's recommendation inbox, its own process and database.
 */
export const telemedicineServices = [
  {
    name: 'telemedicine',
    port: 3008,
    entry: 'dist/apps/telemedicine/src/main.js',
    migrations: telemedicineMigrations,
  },
  {
    name: 'referral-inbox',
    port: 3081,
    entry: 'dist/apps/telemedicine/src/referral-inbox/main.js',
    migrations: referralInboxMigrations,
  },
] as const satisfies readonly ServiceDefinition[];

/** The audit trail: every service's audit records arrive here through its outbox and RabbitMQ. */
export const auditServices = [
  { name: 'audit', port: 3009, entry: 'dist/apps/audit/src/main.js', migrations: auditMigrations },
] as const satisfies readonly ServiceDefinition[];

/** The gateway: the hospital's one FHIR base in front of the others (no database; started after them). */
export const gatewayServices = [
  { name: 'gateway', port: 8080, entry: 'dist/apps/gateway/src/main.js', migrations: [], database: false },
] as const satisfies readonly ServiceDefinition[];

export const services = [
  ...twoPhaseServices,
  ...pharmacyServices,
  ...icuServices,
  ...appointmentServices,
  ...carePlanServices,
  ...telemedicineServices,
  ...auditServices,
  ...gatewayServices,
] as const satisfies readonly ServiceDefinition[];

export type ServiceName = (typeof services)[number]['name'];
export type TwoPhaseServiceName = (typeof twoPhaseServices)[number]['name'];
export type PharmacyServiceName = (typeof pharmacyServices)[number]['name'];

export function isServiceName(name: string): name is ServiceName {
  return services.some((s) => s.name === name);
}

export function findService(name: string): ServiceDefinition {
  const found = services.find((s) => s.name === name);
  if (!found) throw new Error(`Unknown service '${name}' (known: ${services.map((s) => s.name).join(', ')})`);
  return found;
}

/** The database a service owns unless PGDATABASE overrides it. */
export function databaseName(name: string): string {
  return serviceDatabaseName(name);
}

/** `icu-monitor` → `ICU_MONITOR_URL`, the variable a peer reads to reach the service. */
export function urlVariable(name: string): string {
  return `${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL`;
}

/** The repository root: the nearest folder above this file that holds package.json (works from dist/ too). */
export function repositoryRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`No package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

/** Absolute path of a service's compiled entry point. */
export function serviceEntry(name: string): string {
  return join(repositoryRoot(), findService(name).entry);
}

/**
 * The development seed this run's service keys derive from: `SERVICE_KEY_SEED` from the environment (a
 * spec file's, from the jest setup), else one random seed made once per run (per process of the runner).
 * Each service it starts gets only its own private key and the public keys of all (`serviceEnv`), as a
 * deployment gives them, never the seed.
 */
const runServiceKeySeed = process.env.SERVICE_KEY_SEED ?? randomBytes(32).toString('base64url');
let runServiceJwks: string | undefined;

/** The public keys of every registered service under the run's seed, as `SERVICE_JWKS` takes them. */
function serviceJwks(): string {
  runServiceJwks ??= JSON.stringify({
    keys: services.map(({ name }) => servicePublicJwk(name, derivedServiceKey(runServiceKeySeed, name))),
  });
  return runServiceJwks;
}

/** Credentials of the service `name` under the run's keys: for a script that stands in for that service. */
export function runServiceCredentials(name: string): ServiceCredentials {
  return new ServiceTokenSigner(seededServiceKeyring(runServiceKeySeed, name));
}

let devIssuer: DevIssuerKeys | undefined;
const devTokens = new Map<Role, { header: string; renewAt: number }>();
const DEV_TOKEN_TTL_SECONDS = 12 * 3600;

/**
 * The development token issuer of this checkout: an RS256 key pair in `.hospital/dev-issuer.json`
 * (gitignored), made on first use; or, in a test run, the spec file's issuer (`HOSPITAL_DEV_ISSUER_KEYS`,
 * set by the jest setup with the AUTH_JWKS it gives the services). Every service the scripts start trusts
 * it, and `npm run token` signs with it.
 */
export function devIssuerKeys(): DevIssuerKeys {
  const given = process.env[DEV_ISSUER_KEYS_VARIABLE];
  devIssuer ??=
    given !== undefined
      ? (JSON.parse(given) as DevIssuerKeys)
      : loadDevIssuerKeys(join(repositoryRoot(), '.hospital', 'dev-issuer.json'));
  return devIssuer;
}

/**
 * The `Authorization` header value of a development token for `role` (administrator by default): what the
 * scripts send on their own requests to the services they start.
 */
export function devAuthorization(role: Role = 'administrator'): string {
  const now = Date.now();
  const cached = devTokens.get(role);
  if (cached && now < cached.renewAt) return cached.header;
  const header = `Bearer ${signDevToken(devIssuerKeys(), { role, sub: `scripts-${role}`, ttlSeconds: DEV_TOKEN_TTL_SECONDS })}`;
  // Signed once per role and reused (a bench sends thousands of requests a second), renewed at half-life.
  devTokens.set(role, { header, renewAt: now + (DEV_TOKEN_TTL_SECONDS * 1000) / 2 });
  return header;
}

/**
 * The development token a script sends to `url`: an administrator's for the admin and transaction APIs, a
 * clinician's (every FHIR type, and the clinical `/api` routes) for everything else.
 */
export function devAuthorizationFor(url: string): string {
  return devAuthorization(devRoleFor(url));
}

/**
 * The environment to spawn a service with: the current environment, the service's own PORT, the base URL
 * of every registered peer (an explicit `<NAME>_URL` in the environment wins over the default port), the
 * service's own private key and every service's public key (`SERVICE_PRIVATE_KEY`, `SERVICE_JWKS`; the run's
 * `SERVICE_KEY_SEED` is removed), the development issuer's `AUTH_JWKS` and `AUTH_ISSUER` (unless the
 * environment names a key set of its own), and the message server's producers (`MESSAGE_PRODUCERS`, from
 * the supply chain's URL unless set). `overrides` come last; an override set to `undefined` removes the
 * variable.
 */
export function serviceEnv(
  name: string,
  overrides: Record<string, string | undefined> = {},
): NodeJS.ProcessEnv {
  const service = findService(name);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(service.port),
    SERVICE_PRIVATE_KEY: privateKeyPem(derivedServiceKey(runServiceKeySeed, name)),
    SERVICE_JWKS: serviceJwks(),
    ...(process.env.AUTH_JWKS || process.env.AUTH_JWKS_FILE ? {} : devIssuerEnv(devIssuerKeys())),
  };
  delete env.SERVICE_KEY_SEED;
  for (const peer of services) {
    const variable = urlVariable(peer.name);
    if (!process.env[variable]) env[variable] = `http://127.0.0.1:${peer.port}`;
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  env.MESSAGE_PRODUCERS ??= `pharmacy-supply-chain=${env[urlVariable('pharmacy-supply-chain')]}`;
  return env;
}
