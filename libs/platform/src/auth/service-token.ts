import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Service identity tokens: short-lived JWTs (HS256, a secret shared by the platform's services) that one
 * service sends to another's internal routes as `Authorization: Bearer <jwt>`. `iss` = `sub` = the calling
 * service's name, `aud` = the service called. The platform's access control (RS256 bearer JWTs, SMART
 * scopes) replaces the secret by providing another `ServiceTokenVerifier` and `ServiceCredentials`: the
 * routes and their guard do not change.
 */

/** Claims of a service identity token. Times are seconds since the epoch, as in every JWT. */
export interface ServiceTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  exp: number;
}

/** The fewest characters a shared secret may have (HS256 wants at least 256 bits of key). */
export const MIN_SERVICE_AUTH_SECRET_LENGTH = 32;
/** How long a token lives. */
export const SERVICE_TOKEN_TTL_SECONDS = 60;
/** Clock difference tolerated between two services' hosts. */
export const SERVICE_TOKEN_CLOCK_SKEW_SECONDS = 5;
/** A token announcing a longer life than this is refused: a leaked one must not stay useful. */
export const SERVICE_TOKEN_MAX_LIFETIME_SECONDS = 300;

/** Service names as every service uses them (`emr`, `pharmacy-supply-chain`…). */
const SERVICE_NAME = /^[a-z][a-z0-9-]{0,39}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A refused token: 401 when it proves nothing, 403 when it proves a caller who may not do this. */
export class ServiceAuthError extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Who called, as a verified token says. */
export interface ServiceCaller {
  /** The calling service's name (`sub`). */
  name: string;
  /** When the token stops being valid (ms since the epoch). */
  expiresAt: number;
}

/** Checks a bearer token and says who sent it; throws ServiceAuthError when it does not hold. */
export interface ServiceTokenVerifier {
  verify(token: string): Promise<ServiceCaller>;
}

/** What a service sends to prove who it is to another: the whole `Authorization` header value. */
export interface ServiceCredentials {
  authorization(audience: string): string;
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

const HEADER = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

function signature(signingInput: string, secret: string): string {
  return createHmac('sha256', secret).update(signingInput).digest('base64url');
}

function checkSecret(secret: string): void {
  if (secret.length < MIN_SERVICE_AUTH_SECRET_LENGTH)
    throw new Error(`the service auth secret needs at least ${MIN_SERVICE_AUTH_SECRET_LENGTH} characters`);
}

/** Signs `claims` as a compact HS256 JWT. */
export function signServiceToken(claims: ServiceTokenClaims, secret: string): string {
  checkSecret(secret);
  const signingInput = `${HEADER}.${base64url(JSON.stringify(claims))}`;
  return `${signingInput}.${signature(signingInput, secret)}`;
}

function decodeJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);

export interface VerifyOptions {
  /** This service's name: a token for any other audience is refused. */
  audience: string;
  /** Seconds since the epoch; the system clock by default. */
  now?: number;
  clockSkewSeconds?: number;
}

/**
 * Verifies a compact HS256 token against `secret` and `options.audience`. Checks, in order: shape,
 * algorithm (HS256 only: `none` and asymmetric algorithms are refused), signature (compared in constant
 * time, on the canonical encoding, so no two spellings of one signature pass), claims, expiry and
 * issue time with `clockSkewSeconds` of tolerance, lifetime, audience.
 */
export function verifyServiceToken(token: string, secret: string, options: VerifyOptions): ServiceCaller {
  const refuse = (reason: string): never => {
    throw new ServiceAuthError(401, reason);
  };
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) refuse('malformed token');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart);
  if (!isRecord(header) || header.alg !== 'HS256') refuse('token algorithm must be HS256');

  const expected = Buffer.from(signature(`${headerPart}.${payloadPart}`, secret));
  const given = Buffer.from(signaturePart);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) refuse('bad token signature');

  const claims = decodeJson(payloadPart);
  if (!isRecord(claims)) return refuse('malformed token claims');
  const { iss, sub, aud, iat, exp } = claims;
  if (typeof sub !== 'string' || !SERVICE_NAME.test(sub) || iss !== sub)
    refuse('token must name the calling service in iss and sub');
  if (typeof aud !== 'string') refuse('token must name the service called in aud');
  if (!isTime(iat) || !isTime(exp) || exp <= iat) refuse('token must carry iat and exp');
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const skew = options.clockSkewSeconds ?? SERVICE_TOKEN_CLOCK_SKEW_SECONDS;
  if (now > (exp as number) + skew) refuse('token expired');
  if ((iat as number) > now + skew) refuse('token issued in the future');
  if ((exp as number) - (iat as number) > SERVICE_TOKEN_MAX_LIFETIME_SECONDS) refuse('token lives too long');
  if (aud !== options.audience)
    throw new ServiceAuthError(403, `token is for another service than ${options.audience}`);
  return { name: sub as string, expiresAt: (exp as number) * 1000 };
}

/** The shared-secret verifier of service tokens (see the module comment). */
export class HmacServiceTokenVerifier implements ServiceTokenVerifier {
  constructor(
    private readonly secret: string,
    /** This service's name. */
    private readonly audience: string,
    private readonly clock: () => number = Date.now,
  ) {
    checkSecret(secret);
  }

  verify(token: string): Promise<ServiceCaller> {
    try {
      return Promise.resolve(
        verifyServiceToken(token, this.secret, {
          audience: this.audience,
          now: Math.floor(this.clock() / 1000),
        }),
      );
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/**
 * Signs this service's tokens, one per audience, and reuses each until shortly before it expires, so a
 * hot path (four protocol calls per 2PC transaction) does not pay an HMAC per call.
 */
export class HmacServiceTokenSigner implements ServiceCredentials {
  private readonly cache = new Map<string, { header: string; renewAt: number }>();

  constructor(
    /** This service's name: `iss` and `sub` of its tokens. */
    private readonly issuer: string,
    private readonly secret: string,
    private readonly clock: () => number = Date.now,
    private readonly ttlSeconds = SERVICE_TOKEN_TTL_SECONDS,
  ) {
    checkSecret(secret);
  }

  authorization(audience: string): string {
    const now = this.clock();
    const cached = this.cache.get(audience);
    if (cached && now < cached.renewAt) return cached.header;
    const iat = Math.floor(now / 1000);
    const token = signServiceToken(
      { iss: this.issuer, sub: this.issuer, aud: audience, iat, exp: iat + this.ttlSeconds },
      this.secret,
    );
    const header = `Bearer ${token}`;
    // Renewed at two thirds of its life: a token sent just before renewal still has a third left.
    this.cache.set(audience, { header, renewAt: now + (this.ttlSeconds * 1000 * 2) / 3 });
    return header;
  }
}
