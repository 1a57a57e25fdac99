import { plainToInstance, Transform } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && value.trim() !== '' ? Number(value) : value;

/**
 * Environment every service reads. Validated once at boot; a bad value stops the process
 * with a message naming the variable. Service-specific settings extend this class.
 */
export class BaseEnvironment {
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) PORT?: number;
  @IsOptional() @IsString() HOST?: string;

  @IsString() PGHOST: string = '127.0.0.1';
  @Transform(toInt) @IsInt() @Min(1) @Max(65535) PGPORT: number = 5432;
  @IsString() PGUSER: string = 'postgres';
  @IsOptional() @IsString() PGPASSWORD?: string;
  /** Overrides the service's database name (`hospital_<service>` by default). */
  @IsOptional() @IsString() PGDATABASE?: string;
  @Transform(toInt) @IsInt() @Min(1) @Max(500) PG_POOL_SIZE: number = 20;

  @IsUrl({ require_tld: false, protocols: ['redis', 'rediss'] }) REDIS_URL: string = 'redis://127.0.0.1:6379';
  @IsUrl({ require_tld: false, protocols: ['amqp', 'amqps'] }) AMQP_URL: string =
    'amqp://guest:guest@127.0.0.1:5672';

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) LOG_LEVEL: string = 'info';
  /** Largest request body accepted, in bytes. */
  @Transform(toInt) @IsInt() @Min(1024) BODY_LIMIT_BYTES: number = 1_048_576;

  /** Distributed transactions: how long a coordinator waits for votes, and how often recovery sweeps. */
  @Transform(toInt) @IsInt() @Min(50) TX_VOTE_TIMEOUT_MS: number = 5_000;
  /** A participant asks its coordinator about a branch prepared longer ago than this. */
  @Transform(toInt) @IsInt() @Min(50) TX_IN_DOUBT_AFTER_MS: number = 15_000;
  /** Interval of the recovery sweep; 0 runs it only at start-up. */
  @Transform(toInt) @IsInt() @Min(0) TX_RECOVERY_INTERVAL_MS: number = 5_000;
  /**
   * Finished transaction rows (2PC log and branches, two-phase messages, their barriers) are kept this
   * long, then pruned in batches.
   */
  @Transform(toInt) @IsInt() @Min(1) TX_RETENTION_HOURS: number = 168;

  /** Prefix of every exchange and queue this service declares (tests and parallel runs on one broker). */
  @IsOptional() @IsString() MESSAGING_NAMESPACE?: string;
  /** Outbox relay: run one in this process (several may run across replicas), and its batch and poll settings. */
  @IsIn(['true', 'false']) OUTBOX_RELAY: string = 'true';
  @Transform(toInt) @IsInt() @Min(1) @Max(5000) OUTBOX_BATCH_SIZE: number = 500;
  /** The relay polls this often when no NOTIFY woke it (a safety net: NOTIFY is only a hint). */
  @Transform(toInt) @IsInt() @Min(10) OUTBOX_POLL_MS: number = 1_000;
  /** After a round that emptied the outbox, the relay waits this long so the next one carries more (0: off). */
  @Transform(toInt) @IsInt() @Min(0) @Max(1_000) OUTBOX_LINGER_MS: number = 0;
  /** Inbox consumers: unacknowledged deliveries held at once, and attempts before a message is dead-lettered. */
  @Transform(toInt) @IsInt() @Min(1) @Max(10_000) CONSUMER_PREFETCH: number = 500;
  @Transform(toInt) @IsInt() @Min(1) @Max(100) CONSUMER_MAX_ATTEMPTS: number = 5;
  /** Inbox rows (the record of each message a consumer decided) are kept this long, then deleted. */
  @Transform(toInt) @IsInt() @Min(1) INBOX_RETENTION_HOURS: number = 168;
  /** Two-phase messages: the server asks a producer back about a message prepared longer ago than this. */
  @Transform(toInt) @IsInt() @Min(50) MESSAGE_CHECK_BACK_AFTER_MS: number = 10_000;

  /**
   * Fault runs only: the process kills itself (SIGKILL) when a protocol reaches this point, e.g.
   * `2pc.coordinator.after-decision`. Unset in every other run.
   */
  @IsOptional() @IsString() FAULT_KILL_AT?: string;

  /**
   * This service's own base URL as the others reach it (for a two-phase message producer, what the
   * server's MESSAGE_PRODUCERS must list). Default: `http://<HOST>:<PORT>`, with 127.0.0.1 for a wildcard HOST.
   */
  @IsOptional() @IsUrl({ require_tld: false }) SERVICE_URL?: string;

  /** Base URLs of the other services, used by coordinators and participants. */
  @IsUrl({ require_tld: false }) EMR_URL: string = 'http://127.0.0.1:3001';
  @IsUrl({ require_tld: false }) LIS_URL: string = 'http://127.0.0.1:3002';
  @IsUrl({ require_tld: false }) PACS_URL: string = 'http://127.0.0.1:3003';
  /** The two-phase message server the pharmacy's purchase orders go through. */
  @IsUrl({ require_tld: false }) PHARMACY_MESSAGES_URL: string = 'http://127.0.0.1:3044';

  /**
   * The secret every service of the platform shares to sign and verify service tokens on `/internal/*`
   * routes (see `auth/service-token.ts`). Required by every service, with no default: a service refuses
   * to start without it (tools that only reach the database do not need it).
   */
  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'SERVICE_AUTH_SECRET must be at least 32 characters' })
  SERVICE_AUTH_SECRET?: string;

  /**
   * Two-phase message server only: the producers it serves and the base URL it calls each back at, as
   * `name=url` pairs separated by commas. A producer is the authenticated caller; one not listed here is
   * refused at prepare, and no check-back ever goes to an address taken from a request.
   */
  @Matches(
    /^\s*$|^[a-z][a-z0-9-]{0,39}=https?:\/\/[^\s,=]+(\s*,\s*[a-z][a-z0-9-]{0,39}=https?:\/\/[^\s,=]+)*$/,
    {
      message: 'MESSAGE_PRODUCERS must be name=http(s)://url pairs separated by commas',
    },
  )
  MESSAGE_PRODUCERS: string = 'pharmacy-supply-chain=http://127.0.0.1:3042';
}

/** The `SERVICE_AUTH_SECRET` of a service's environment; a ConfigError naming the variable when unset. */
export function requireServiceAuthSecret(env: BaseEnvironment): string {
  if (env.SERVICE_AUTH_SECRET === undefined) {
    throw new ConfigError(
      "Invalid configuration:\n  SERVICE_AUTH_SECRET is not set: every service needs the secret the platform's services share to sign service tokens (at least 32 characters)",
    );
  }
  return env.SERVICE_AUTH_SECRET;
}

/** `MESSAGE_PRODUCERS` as a map from producer name to its check-back base URL. */
export function messageProducerAddresses(env: BaseEnvironment): Record<string, string> {
  const entries = env.MESSAGE_PRODUCERS.split(',')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '')
    .map((pair) => {
      const at = pair.indexOf('=');
      return [pair.slice(0, at), pair.slice(at + 1).replace(/\/+$/, '')] as const;
    });
  return Object.fromEntries(entries);
}

export class ConfigError extends Error {}

const SECRET_VARIABLE = /SECRET|PASSWORD/;

/** Reads `env` into `schema`, throwing a ConfigError that names every invalid variable. */
export function loadEnvironment<T extends BaseEnvironment>(
  schema: new () => T,
  env: NodeJS.ProcessEnv = process.env,
): T {
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const instance = plainToInstance(schema, { ...new schema(), ...defined }, { exposeDefaultValues: true });
  const errors = validateSync(instance, { whitelist: false, forbidUnknownValues: false });
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      // A secret's value is never echoed, not even a wrong one: the message reaches logs.
      const shown = SECRET_VARIABLE.test(e.property)
        ? '(hidden)'
        : JSON.stringify(defined[e.property] ?? e.value);
      return `  ${e.property}=${shown}: ${Object.values(e.constraints ?? {}).join('; ')}`;
    });
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return instance;
}

export interface ServiceIdentity {
  /** Short name: emr, lis, pacs… Used for the database name, logs and gids. */
  name: string;
  defaultPort: number;
}

export interface ServiceConfig<T extends BaseEnvironment = BaseEnvironment> {
  service: ServiceIdentity;
  env: T;
  port: number;
  host: string;
  database: DatabaseSettings;
  /** Base URL of each service by name, from EMR_URL, LIS_URL… */
  peers: Record<string, string>;
}

export interface DatabaseSettings {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  poolSize: number;
}

export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');

/** The database a service owns: `hospital_<name>`, with `-` as `_` (`pharmacy-inventory` → `hospital_pharmacy_inventory`). */
export function serviceDatabaseName(name: string, suffix?: string): string {
  const base = `hospital_${name.replace(/-/g, '_')}`;
  return suffix === undefined ? base : `${base}_${suffix}`;
}

export function buildServiceConfig<T extends BaseEnvironment>(
  service: ServiceIdentity,
  schema: new () => T,
  env: NodeJS.ProcessEnv = process.env,
): ServiceConfig<T> {
  const e = loadEnvironment(schema, env);
  requireServiceAuthSecret(e);
  return {
    service,
    env: e,
    port: e.PORT ?? service.defaultPort,
    host: e.HOST ?? '127.0.0.1',
    database: {
      host: e.PGHOST,
      port: e.PGPORT,
      user: e.PGUSER,
      password: e.PGPASSWORD,
      database: e.PGDATABASE ?? serviceDatabaseName(service.name),
      poolSize: e.PG_POOL_SIZE,
    },
    peers: { emr: e.EMR_URL, lis: e.LIS_URL, pacs: e.PACS_URL, 'pharmacy-messages': e.PHARMACY_MESSAGES_URL },
  };
}
