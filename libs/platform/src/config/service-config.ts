import { isURL } from 'class-validator';
import {
  ConfigError,
  definedVariables,
  EnvironmentOf,
  EnvironmentPiece,
  failOn,
  problemLine,
  readPieces,
} from './environment';
import { PLATFORM_PIECES, PlatformEnvironment, requireServiceKeyring } from './environment-pieces';

export * from './environment';
export * from './environment-pieces';

export interface ServiceIdentity {
  /** Short name: used for the database name, logs and gids. */
  name: string;
  defaultPort: number;
  /**
   * The services this one calls, by name, with the base URL used when `<NAME>_URL` (the name in capitals,
   * `-` as `_`) is not set: `{ lis: 'http://127.0.0.1:3002' }` reads `LIS_URL`. Only these are validated.
   */
  peers?: Readonly<Record<string, string>>;
}

export interface ServiceConfig<E extends object = PlatformEnvironment> {
  service: ServiceIdentity;
  env: E;
  /** The pieces `env` was composed of (see `environmentOf`). */
  pieces: ReadonlySet<EnvironmentPiece>;
  port: number;
  host: string;
  database: DatabaseSettings;
  /** Base URL of each peer by service name, from the identity's `peers` and their `<NAME>_URL` variables. */
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

/** The database a service owns: `hospital_<name>`, with `-` as `_` (`ward-orders` → `hospital_ward_orders`). */
export function serviceDatabaseName(name: string, suffix?: string): string {
  const base = `hospital_${name.replace(/-/g, '_')}`;
  return suffix === undefined ? base : `${base}_${suffix}`;
}

/** The variable holding a peer's base URL: `ward-orders` → `WARD_ORDERS_URL`. */
export function peerUrlVariable(name: string): string {
  return `${name.toUpperCase().replace(/-/g, '_')}_URL`;
}

/**
 * The settings of one piece of a service's configuration, for a library module that reads them: throws a
 * ConfigError at boot when the service's configuration was not composed with that piece (or one extending
 * it), so a module is never handed defaults its service never validated.
 */
export function environmentOf<T extends object>(config: ServiceConfig, piece: EnvironmentPiece<T>): T {
  const composed = [...config.pieces].some((p) => p === piece || p.prototype instanceof piece);
  if (!composed) {
    throw new ConfigError(
      `Invalid configuration:\n  service ${config.service.name} uses a module that reads ${piece.name}, ` +
        `but its configuration is not composed with it (add ${piece.name} to its pieces)`,
    );
  }
  return config.env as T;
}

/**
 * A service's configuration: the platform's pieces and the service's own `pieces` read from `env`, and its
 * peers. Throws one ConfigError naming every invalid variable (and the service keys when unset or wrong).
 */
export function buildServiceConfig<const P extends readonly EnvironmentPiece[]>(
  service: ServiceIdentity,
  pieces: P,
  env: NodeJS.ProcessEnv = process.env,
): ServiceConfigOf<P> {
  const all = [...new Set<EnvironmentPiece>([...PLATFORM_PIECES, ...pieces])];
  const { instances, problems } = readPieces(all, env);
  const defined = definedVariables(env);
  const peers = Object.fromEntries(
    Object.entries(service.peers ?? {}).map(([name, fallback]) => {
      const variable = peerUrlVariable(name);
      const url = defined[variable] ?? fallback;
      if (!isURL(url, { require_tld: false }))
        problems.push(problemLine(variable, url, `${variable} must be a URL address`));
      return [name, url];
    }),
  );
  failOn(problems);
  const e = Object.assign({}, ...instances) as PlatformEnvironment & EnvironmentOf<P>;
  requireServiceKeyring(e, service.name);
  return {
    service,
    env: e,
    pieces: new Set(all),
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
    peers,
  };
}

/** The configuration `buildServiceConfig` returns for a service composed of `pieces`. */
export type ServiceConfigOf<P extends readonly EnvironmentPiece[]> = ServiceConfig<
  PlatformEnvironment & EnvironmentOf<P>
>;
