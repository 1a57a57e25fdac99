import { readFileSync } from 'node:fs';
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { ConfigError } from '../config/environment';
import type { AccessEnvironment } from '../config/environment-pieces';
import type { Principal } from './principal';
import { isRole, roleScopes } from './roles';
import { intersectScopes, parseScopes } from './scopes';
import { ServiceAuthError } from './service-token';

/** The only algorithm a user token may be signed with. */
export const ACCESS_TOKEN_ALGORITHM = 'RS256';

/** How a service checks user tokens: whose keys, which issuer, which audience. */
export interface AccessTokenSettings {
  jwks: JSONWebKeySet;
  issuer: string;
  audience: string;
  clockSkewSeconds: number;
}

/** Checks a user's bearer token and says who it proves; throws ServiceAuthError (401) when it proves nothing. */
export interface AccessTokenVerifier {
  verify(token: string): Promise<Principal>;
}

function isKeySet(value: unknown): value is JSONWebKeySet {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { keys?: unknown }).keys) &&
    (value as { keys: unknown[] }).keys.every((k) => typeof k === 'object' && k !== null)
  );
}

/** The RSA public keys of a JWKS document; a ConfigError naming `variable` when it holds none. */
export function parseKeySet(text: string, variable: string): JSONWebKeySet {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    throw new ConfigError(`Invalid configuration:\n  ${variable} is not valid JSON (a JWKS document)`);
  }
  if (!isKeySet(value))
    throw new ConfigError(`Invalid configuration:\n  ${variable} must be a JWKS document: {"keys": [...]}`);
  // Public parts only: a private exponent in a published key set is a leak, and is never needed here.
  const keys = value.keys
    .filter((k) => k.kty === 'RSA')
    .map(({ kty, kid, n, e, alg, use }) => ({ kty, kid, n, e, alg, use }));
  if (keys.length === 0)
    throw new ConfigError(`Invalid configuration:\n  ${variable} holds no RSA key (tokens are RS256)`);
  return { keys };
}

/**
 * The access settings of a service's environment: the key set (`AUTH_JWKS`, else `AUTH_JWKS_FILE`), the
 * issuer and the audience. A ConfigError naming the variable when the key set or the issuer is missing
 * or unreadable.
 */
export function accessTokenSettings(env: AccessEnvironment): AccessTokenSettings {
  let jwks: JSONWebKeySet;
  if (env.AUTH_JWKS !== undefined) jwks = parseKeySet(env.AUTH_JWKS, 'AUTH_JWKS');
  else if (env.AUTH_JWKS_FILE !== undefined) {
    let text: string;
    try {
      text = readFileSync(env.AUTH_JWKS_FILE, 'utf8');
    } catch {
      throw new ConfigError(`Invalid configuration:\n  AUTH_JWKS_FILE cannot be read: ${env.AUTH_JWKS_FILE}`);
    }
    jwks = parseKeySet(text, 'AUTH_JWKS_FILE');
  } else
    throw new ConfigError(
      'Invalid configuration:\n  AUTH_JWKS (or AUTH_JWKS_FILE) is not set: every service needs the public keys of the token issuer (`npm run token` prints the development one)',
    );
  if (env.AUTH_ISSUER === undefined || env.AUTH_ISSUER === '')
    throw new ConfigError(
      'Invalid configuration:\n  AUTH_ISSUER is not set: the `iss` every access token must carry',
    );
  return {
    jwks,
    issuer: env.AUTH_ISSUER,
    audience: env.AUTH_AUDIENCE,
    clockSkewSeconds: env.AUTH_CLOCK_SKEW_SECONDS,
  };
}

const refuse = (reason: string): never => {
  throw new ServiceAuthError(401, reason);
};

/** Why jose refused a token, in words a client can act on (never the token itself). */
function refusalReason(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return 'token from another issuer';
      case 'aud':
        return 'token for another audience';
      case 'nbf':
        return 'token not yet valid';
      default:
        return `token claim ${error.claim} is missing or invalid`;
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return `token algorithm must be ${ACCESS_TOKEN_ALGORITHM}`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad token signature';
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
    return 'token signed by an unknown key';
  return 'malformed token';
}

/** The principal of a verified token's claims: its subject, role and scopes within the role's. */
export function principalOfClaims(claims: JWTPayload): Principal {
  const { sub, role, scope, name } = claims as JWTPayload & {
    role?: unknown;
    scope?: unknown;
    name?: unknown;
  };
  if (typeof sub !== 'string' || sub === '' || sub.length > 200)
    return refuse('token must name its subject in sub');
  if (!isRole(role)) return refuse('token must carry a hospital role');
  if (typeof scope !== 'string') return refuse('token must carry its scopes in scope');
  if (name !== undefined && (typeof name !== 'string' || name.length > 200))
    return refuse('token name must be a string');
  const scopes = intersectScopes(parseScopes(scope), roleScopes(role));
  return { kind: 'user', id: sub, role, scopes, ...(name === undefined ? {} : { name }) };
}

/** Verifies user tokens with jose: RS256 only, against the configured key set, issuer and audience. */
export class JwksAccessTokenVerifier implements AccessTokenVerifier {
  private readonly keys: ReturnType<typeof createLocalJWKSet>;

  constructor(
    private readonly settings: AccessTokenSettings,
    private readonly clock: () => number = Date.now,
  ) {
    this.keys = createLocalJWKSet(settings.jwks);
  }

  async verify(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        algorithms: [ACCESS_TOKEN_ALGORITHM],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTolerance: this.settings.clockSkewSeconds,
        currentDate: new Date(this.clock()),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      return refuse(refusalReason(error));
    }
    return principalOfClaims(payload);
  }
}
