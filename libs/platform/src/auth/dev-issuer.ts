import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createPrivateKey, generateKeyPairSync, randomUUID, sign, type JsonWebKey } from 'node:crypto';
import type { JSONWebKeySet, JWK } from 'jose';
import type { Role } from './principal';
import { ACCESS_TOKEN_ALGORITHM } from './access-token';
import { ROLE_SCOPES } from './roles';

/** The issuer name of the development issuer's tokens (`AUTH_ISSUER` of a demo or test run). */
export const DEV_ISSUER = 'https://dev-issuer.hospital.local';
/**
 * Test runs only: the variable holding the whole key pair of the run's issuer (JSON of DevIssuerKeys), so
 * the scripts a spec drives sign with the key the services it spawned trust. Never read by a service.
 */
export const DEV_ISSUER_KEYS_VARIABLE = 'HOSPITAL_DEV_ISSUER_KEYS';
/** The audience every service checks by default (`AUTH_AUDIENCE`). */
export const DEFAULT_AUDIENCE = 'hospital';

/** One RS256 key pair as JWKs: what `.hospital/dev-issuer.json` holds. */
export interface DevIssuerKeys {
  issuer: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

export interface DevTokenOptions {
  role: Role;
  sub?: string;
  name?: string;
  /** Space-separated scopes; the role's own by default. */
  scope?: string;
  ttlSeconds?: number;
  audience?: string;
  /** Extra or overriding claims (tests: a wrong `iss`, an `exp` in the past). */
  claims?: Record<string, unknown>;
  /** Seconds since the epoch; now by default. */
  now?: number;
}

/** A fresh RS256 key pair with a random key id. */
export function generateDevIssuerKeys(issuer = DEV_ISSUER): DevIssuerKeys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const privateJwk = {
    ...privateKey.export({ format: 'jwk' }),
    kid,
    alg: ACCESS_TOKEN_ALGORITHM,
    use: 'sig',
  };
  const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: ACCESS_TOKEN_ALGORITHM, use: 'sig' };
  return { issuer, privateJwk, publicJwk };
}

/** The key pair in `path`, made (with its folder) on first use. */
export function loadDevIssuerKeys(path: string): DevIssuerKeys {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DevIssuerKeys;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const keys = generateDevIssuerKeys();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  return keys;
}

/** The issuer's published key set (the public key only). */
export function devIssuerJwks(keys: DevIssuerKeys): JSONWebKeySet {
  return { keys: [keys.publicJwk] };
}

/** The environment that makes a service trust this issuer: `AUTH_JWKS` and `AUTH_ISSUER`. */
export function devIssuerEnv(keys: DevIssuerKeys): { AUTH_JWKS: string; AUTH_ISSUER: string } {
  return { AUTH_JWKS: JSON.stringify(devIssuerJwks(keys)), AUTH_ISSUER: keys.issuer };
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Signs an access token for a role (its scopes unless `scope` says otherwise), as the issuer would: a
 * compact RS256 JWS. Synchronous, so scripts and specs can build headers inline.
 */
export function signDevToken(keys: DevIssuerKeys, options: DevTokenOptions): string {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const claims = {
    iss: keys.issuer,
    aud: options.audience ?? DEFAULT_AUDIENCE,
    sub: options.sub ?? `dev-${options.role}`,
    iat: now,
    exp: now + (options.ttlSeconds ?? 3600),
    jti: randomUUID(),
    role: options.role,
    scope: options.scope ?? ROLE_SCOPES[options.role].join(' '),
    ...(options.name === undefined ? {} : { name: options.name }),
    ...options.claims,
  };
  const header = { alg: ACCESS_TOKEN_ALGORITHM, kid: keys.publicJwk.kid, typ: 'JWT' };
  const input = `${encode(header)}.${encode(claims)}`;
  const key = createPrivateKey({ key: keys.privateJwk as JsonWebKey, format: 'jwk' });
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

/** The `/api` routes for administrators only (`@Roles('administrator')`): the admin and transaction APIs. */
const ADMIN_API_ROUTE =
  /\/api\/(transactions|capacity|messages|message-transactions|notifications|alerts\/reconcile)(\/|\?|$)/;

/**
 * The role a development client (a script, a spec) uses for `url`: administrator for the admin and
 * transaction APIs, clinician (every FHIR type, and the clinical `/api` routes) for everything else.
 */
export function devRoleFor(url: string): Role {
  return ADMIN_API_ROUTE.test(url) ? 'administrator' : 'clinician';
}
