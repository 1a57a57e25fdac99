import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, MinLength } from 'class-validator';
import { configuredServiceKeyring, seededServiceKeyring, type ServiceKeyring } from '../auth/service-keys';
import { TracingEnvironment } from '../tracing/tracing.environment';
import { ConfigError, toInt } from './environment';

// The pieces a service's environment is composed of. Each service lists the pieces it uses (its
// `config.ts`); the platform's own (ServiceEnvironment, DatabaseEnvironment, ServiceAuthEnvironment,
// AccessEnvironment, TracingEnvironment) are part of every service, since every service runs
// PlatformModule. A library module reads its settings through `environmentOf(config, Piece)`, which
// refuses a service whose configuration lacks them.

/** What every service reads: where it listens, its logs, its request limit, its own address, fault points. */
export class ServiceEnvironment {
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) PORT?: number;
  @IsOptional() @IsString() HOST?: string;

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) LOG_LEVEL: string = 'info';
  /** Largest request body accepted, in bytes. */
  @Transform(toInt) @IsInt() @Min(1024) BODY_LIMIT_BYTES: number = 1_048_576;

  /**
   * This service's own base URL as the others reach it (for a two-phase message producer, what the
   * server's MESSAGE_PRODUCERS must list). Default: `http://<HOST>:<PORT>`, with 127.0.0.1 for a wildcard HOST.
   */
  @IsOptional() @IsUrl({ require_tld: false }) SERVICE_URL?: string;

  /**
   * The peers whose X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Prefix are believed (the gateway
   * in front of the service): Express's `trust proxy` — `loopback` (default), `false`, a hop count, or
   * addresses and subnets separated by commas. Links and Location headers then name the gateway's base.
   */
  @Matches(/^[A-Za-z0-9.:/,\s]+$/, { message: 'TRUST_PROXY must be false, true, a number or addresses' })
  TRUST_PROXY: string = 'loopback';

  /**
   * Fault runs only: the process kills itself (SIGKILL) when a protocol reaches this point, e.g.
   * `2pc.coordinator.after-decision`. Unset in every other run.
   */
  @IsOptional() @IsString() FAULT_KILL_AT?: string;

  /**
   * How far V8 lets the heap grow past what its last full collection kept, in percent (V8's
   * `--heap-growing-percent`, set at start by `runService`). 0 leaves V8's own heuristic, which lets a
   * busy service's heap grow to up to four times its live data: 400+ MB for a service with 60 MB live
   * under `npm run bench`. See docs/benchmarks.md, "Memory".
   */
  @Transform(toInt) @IsInt() @Min(0) @Max(400) HEAP_GROWTH_PERCENT: number = 30;
}

/** The service's PostgreSQL database. */
export class DatabaseEnvironment {
  @IsString() PGHOST: string = '127.0.0.1';
  @Transform(toInt) @IsInt() @Min(1) @Max(65535) PGPORT: number = 5432;
  @IsString() PGUSER: string = 'postgres';
  @IsOptional() @IsString() PGPASSWORD?: string;
  /** Overrides the service's database name (`hospital_<service>` by default). */
  @IsOptional() @IsString() PGDATABASE?: string;
  @Transform(toInt) @IsInt() @Min(1) @Max(500) PG_POOL_SIZE: number = 20;
}

/** The keys service tokens on `/internal/*` routes are signed and checked with (see `auth/service-keys.ts`). */
export class ServiceAuthEnvironment {
  /** This service's own Ed25519 private key, PKCS#8 PEM (literal `\n` for line breaks is accepted). */
  @IsOptional() @IsString() SERVICE_PRIVATE_KEY?: string;
  /** The public keys of the platform's services as an inline JWKS document, `kid` = service name. */
  @IsOptional() @IsString() SERVICE_JWKS?: string;
  /**
   * Development and tests only, instead of the two above: the seed every service's key pair is derived
   * from. Refused under `NODE_ENV=production`, since whoever holds it can act as any service.
   */
  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'SERVICE_KEY_SEED must be at least 32 characters' })
  SERVICE_KEY_SEED?: string;
  @IsOptional() @IsString() NODE_ENV?: string;
}

/**
 * How a service verifies the bearer tokens of the hospital's people (`auth/access-token.ts`): RS256 JWTs
 * of one issuer, checked against its key set. A service refuses to start without a key set and an
 * issuer (`npm run token` and `scripts/services.ts` give every service the development issuer's).
 */
export class AccessEnvironment {
  /** The issuer's public keys as an inline JWKS document (`{"keys":[…]}`). */
  @IsOptional() @IsString() AUTH_JWKS?: string;
  /** Or a path to a file holding that JWKS document (AUTH_JWKS wins when both are set). */
  @IsOptional() @IsString() AUTH_JWKS_FILE?: string;
  /** The `iss` every token must carry. */
  @IsOptional() @IsString() AUTH_ISSUER?: string;
  /** The `aud` every token must carry. */
  @IsString() @MinLength(1) AUTH_AUDIENCE: string = 'hospital';
  /** Clock difference tolerated on `exp` and `nbf`, in seconds. */
  @Transform(toInt) @IsInt() @Min(0) @Max(300) AUTH_CLOCK_SKEW_SECONDS: number = 30;
  /** SMART discovery: the issuer's published key set, authorization and token endpoints, when it has them. */
  @IsOptional() @IsUrl({ require_tld: false }) AUTH_JWKS_URI?: string;
  @IsOptional() @IsUrl({ require_tld: false }) AUTH_AUTHORIZATION_ENDPOINT?: string;
  @IsOptional() @IsUrl({ require_tld: false }) AUTH_TOKEN_ENDPOINT?: string;
}

/** Redis, for the services and tools that use it. */
export class RedisEnvironment {
  @IsUrl({ require_tld: false, protocols: ['redis', 'rediss'] }) REDIS_URL: string = 'redis://127.0.0.1:6379';
}

/** RabbitMQ, the outbox relay and the inbox consumers (MessagingModule). */
export class MessagingEnvironment {
  @IsUrl({ require_tld: false, protocols: ['amqp', 'amqps'] }) AMQP_URL: string =
    'amqp://guest:guest@127.0.0.1:5672';
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
}

/**
 * Distributed transactions, whatever the protocol: how long a call to another party may take, how often
 * recovery sweeps, how long finished rows are kept. A two-phase message producer reads this piece.
 */
export class TransactionsEnvironment {
  /** How long a coordinator waits for votes (and a producer or server for the other side's answer). */
  @Transform(toInt) @IsInt() @Min(50) TX_VOTE_TIMEOUT_MS: number = 5_000;
  /** Interval of the recovery sweep; 0 runs it only at start-up. */
  @Transform(toInt) @IsInt() @Min(0) TX_RECOVERY_INTERVAL_MS: number = 5_000;
  /**
   * Finished transaction rows (2PC log and branches, two-phase messages, their barriers) are kept this
   * long, then pruned in batches.
   */
  @Transform(toInt) @IsInt() @Min(1) TX_RETENTION_HOURS: number = 168;
}

/** Two-phase commit (coordinator or participant): the transaction settings and the in-doubt threshold. */
export class TwoPhaseCommitEnvironment extends TransactionsEnvironment {
  /** A participant asks its coordinator about a branch prepared longer ago than this. */
  @Transform(toInt) @IsInt() @Min(50) TX_IN_DOUBT_AFTER_MS: number = 15_000;
}

/**
 * Three-phase commit (coordinator or participant): the transaction settings and the participants'
 * time-outs. `TX_3PC_TERMINATION=textbook` lets a pre-committed participant commit on its time-out
 * without asking its peers, as the protocol is usually taught; it exists to show the partition hazard
 * that the default `peers` avoids (libs/transactions/src/three-phase-commit/README.md).
 */
export class ThreePhaseCommitEnvironment extends TransactionsEnvironment {
  /** A participant that voted YES and heard no PreCommit for this long aborts its branch. */
  @Transform(toInt) @IsInt() @Min(100) TX_3PC_UNCERTAIN_TIMEOUT_MS: number = 10_000;
  /**
   * A pre-committed participant that heard no DoCommit for this long terminates the transaction itself.
   * Shorter than the uncertain time-out: a coordinator gone mid-PreCommit then ends in a commit, the
   * pre-committed participants bringing the uncertain ones along before those give up.
   */
  @Transform(toInt) @IsInt() @Min(100) TX_3PC_PRECOMMIT_TIMEOUT_MS: number = 5_000;
  @IsIn(['peers', 'textbook']) TX_3PC_TERMINATION: 'peers' | 'textbook' = 'peers';
  /** How often a participant looks for branches whose time-out ran out. */
  @Transform(toInt) @IsInt() @Min(10) TX_3PC_SWEEP_MS: number = 1_000;
  /**
   * Measurement only: `true` opens a participant's `POST /internal/branch/apply`, which runs its branch
   * step in one plain local transaction with no protocol (the uncoordinated baseline of
   * `npm run bench -- 3pc`). Never in production: a completion applied that way is not atomic.
   */
  @IsIn(['true', 'false']) TX_UNCOORDINATED_APPLY: 'true' | 'false' = 'false';
}

/** A two-phase message server: the transaction settings, and the producers it serves. */
export class MessageServerEnvironment extends TransactionsEnvironment {
  /** The server asks a producer back about a message prepared longer ago than this. */
  @Transform(toInt) @IsInt() @Min(50) MESSAGE_CHECK_BACK_AFTER_MS: number = 10_000;

  /**
   * The producers this server serves and the base URL it calls each back at, as `name=url` pairs separated
   * by commas. A producer is the authenticated caller; one not listed here is refused at prepare, and no
   * check-back ever goes to an address taken from a request. A service gives its own default by extending
   * this piece.
   */
  @Matches(
    /^\s*$|^[a-z][a-z0-9-]{0,39}=https?:\/\/[^\s,=]+(\s*,\s*[a-z][a-z0-9-]{0,39}=https?:\/\/[^\s,=]+)*$/,
    {
      message: 'MESSAGE_PRODUCERS must be name=http(s)://url pairs separated by commas',
    },
  )
  MESSAGE_PRODUCERS: string = '';
}

/** The pieces of every service, read by PlatformModule itself. */
export const PLATFORM_PIECES = [
  ServiceEnvironment,
  DatabaseEnvironment,
  ServiceAuthEnvironment,
  AccessEnvironment,
  TracingEnvironment,
] as const;

/** What PlatformModule and the platform's own code read from any service's configuration. */
export type PlatformEnvironment = ServiceEnvironment &
  DatabaseEnvironment &
  ServiceAuthEnvironment &
  AccessEnvironment &
  TracingEnvironment;

/**
 * Every piece at once: for tools and tests that stand in for any service. A service lists only its own
 * pieces instead, so it does not validate variables it never reads.
 */
export const BaseEnvironment = [
  ...PLATFORM_PIECES,
  RedisEnvironment,
  MessagingEnvironment,
  TwoPhaseCommitEnvironment,
  ThreePhaseCommitEnvironment,
  MessageServerEnvironment,
] as const;
export type BaseEnvironment = PlatformEnvironment &
  RedisEnvironment &
  MessagingEnvironment &
  TwoPhaseCommitEnvironment &
  ThreePhaseCommitEnvironment &
  MessageServerEnvironment;

/**
 * The keyring of the service `name` from its environment (see `auth/service-keys.ts`); a ConfigError naming
 * the variables when they are missing, wrong or mixed, or when a development seed meets production.
 */
export function requireServiceKeyring(env: ServiceAuthEnvironment, name: string): ServiceKeyring {
  const fail = (problem: string): never => {
    throw new ConfigError(`Invalid configuration:\n  ${problem}`);
  };
  const { SERVICE_PRIVATE_KEY: privateKey, SERVICE_JWKS: jwks, SERVICE_KEY_SEED: seed } = env;
  if (seed !== undefined) {
    if (privateKey !== undefined || jwks !== undefined)
      fail('SERVICE_KEY_SEED is for development: set it or SERVICE_PRIVATE_KEY and SERVICE_JWKS, not both');
    if (env.NODE_ENV === 'production')
      fail(
        'SERVICE_KEY_SEED is refused under NODE_ENV=production: give each service SERVICE_PRIVATE_KEY and SERVICE_JWKS (npm run service-keys)',
      );
    return seededServiceKeyring(seed, name);
  }
  if (privateKey === undefined || jwks === undefined)
    return fail(
      "SERVICE_PRIVATE_KEY and SERVICE_JWKS are not set: every service needs its own key to sign service tokens and the services' public keys to check them (npm run service-keys makes a set; SERVICE_KEY_SEED in development)",
    );
  try {
    return configuredServiceKeyring(name, privateKey, jwks);
  } catch (error) {
    return fail((error as Error).message);
  }
}

/** `MESSAGE_PRODUCERS` as a map from producer name to its check-back base URL. */
export function messageProducerAddresses(env: MessageServerEnvironment): Record<string, string> {
  const entries = env.MESSAGE_PRODUCERS.split(',')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '')
    .map((pair) => {
      const at = pair.indexOf('=');
      return [pair.slice(0, at), pair.slice(at + 1).replace(/\/+$/, '')] as const;
    });
  return Object.fromEntries(entries);
}
