import { sign, verify as verifySignature } from 'node:crypto';
import { SERVICE_NAME, type ServiceKeyring } from './service-keys';

/**
 * Service identity tokens: short-lived JWTs that one service sends to another's internal routes as
 * `Authorization: Bearer <jwt>`. `iss` = `sub` = `kid` = the calling service's name, `aud` = the service
 * called. Each service signs with its own Ed25519 key (EdDSA) and checks a caller's token against that
 * caller's public key (`service-keys.ts`), so no service can make a token that names another.
 */

/** Claims of a service identity token. Times are seconds since the epoch, as in every JWT. */
export interface ServiceTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  exp: number;
}

/** How long a token lives. */
export const SERVICE_TOKEN_TTL_SECONDS = 60;
/** Clock difference tolerated between two services' hosts. */
export const SERVICE_TOKEN_CLOCK_SKEW_SECONDS = 5;
/** A token announcing a longer life than this is refused: a leaked one must not stay useful. */
export const SERVICE_TOKEN_MAX_LIFETIME_SECONDS = 300;

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

/** Signs `claims` as a compact EdDSA JWT with `keyring`'s private key; `kid` is the keyring's name. */
export function signServiceToken(claims: ServiceTokenClaims, keyring: ServiceKeyring): string {
  const header = base64url(JSON.stringify({ alg: 'EdDSA', typ: 'JWT', kid: keyring.name }));
  const signingInput = `${header}.${base64url(JSON.stringify(claims))}`;
  return `${signingInput}.${sign(null, Buffer.from(signingInput), keyring.privateKey).toString('base64url')}`;
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
 * Verifies a compact EdDSA token against the public key of the service its `kid` names, and
 * `options.audience`. Checks, in order: shape, algorithm (EdDSA only: `none`, HMAC and RSA are refused),
 * a `kid` that names a service the keyring knows, signature on the canonical encoding (so no two
 * spellings of one signature pass), claims (`iss` = `sub` = `kid`: a service's key vouches for that
 * service only), expiry and issue time with `clockSkewSeconds` of tolerance, lifetime, audience.
 */
export function verifyServiceToken(
  token: string,
  keyring: ServiceKeyring,
  options: VerifyOptions,
): ServiceCaller {
  const refuse = (reason: string): never => {
    throw new ServiceAuthError(401, reason);
  };
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) refuse('malformed token');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart);
  if (!isRecord(header) || header.alg !== 'EdDSA') return refuse('token algorithm must be EdDSA');
  const kid = header.kid;
  const key = typeof kid === 'string' ? keyring.publicKey(kid) : undefined;
  if (key === undefined) return refuse('token key is not a known service');

  const signatureBytes = Buffer.from(signaturePart, 'base64url');
  if (
    signatureBytes.toString('base64url') !== signaturePart ||
    !verifySignature(null, Buffer.from(`${headerPart}.${payloadPart}`), key, signatureBytes)
  )
    refuse('bad token signature');

  const claims = decodeJson(payloadPart);
  if (!isRecord(claims)) return refuse('malformed token claims');
  const { iss, sub, aud, iat, exp } = claims;
  if (typeof sub !== 'string' || !SERVICE_NAME.test(sub) || iss !== sub || sub !== kid)
    refuse('token must name the calling service in iss, sub and kid');
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

/** Tokens a verifier remembers having accepted (each caller reuses one per audience for 40 s). */
const VERIFIED_TOKENS_KEPT = 256;

/**
 * The verifier of service tokens for the service that owns `keyring`. An accepted token is remembered,
 * by its whole text, until its `exp` plus the clock skew, so the hot path (four protocol calls per 2PC
 * transaction, each with a token reused for 40 s) pays the signature check once per token, not per call.
 */
export class KeyringServiceTokenVerifier implements ServiceTokenVerifier {
  private readonly accepted = new Map<string, ServiceCaller>();

  constructor(
    private readonly keyring: ServiceKeyring,
    private readonly clock: () => number = Date.now,
  ) {}

  verify(token: string): Promise<ServiceCaller> {
    const now = this.clock();
    const known = this.accepted.get(token);
    if (known !== undefined && now <= known.expiresAt + SERVICE_TOKEN_CLOCK_SKEW_SECONDS * 1000)
      return Promise.resolve({ ...known });
    try {
      const caller = verifyServiceToken(token, this.keyring, {
        audience: this.keyring.name,
        now: Math.floor(now / 1000),
      });
      this.accepted.delete(token);
      this.accepted.set(token, caller);
      if (this.accepted.size > VERIFIED_TOKENS_KEPT) {
        const oldest = this.accepted.keys().next();
        if (oldest.done !== true) this.accepted.delete(oldest.value);
      }
      return Promise.resolve({ ...caller });
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/**
 * Signs this service's tokens, one per audience, and reuses each until shortly before it expires, so a
 * hot path does not pay a signature per call.
 */
export class ServiceTokenSigner implements ServiceCredentials {
  private readonly cache = new Map<string, { header: string; renewAt: number }>();

  constructor(
    private readonly keyring: ServiceKeyring,
    private readonly clock: () => number = Date.now,
    private readonly ttlSeconds = SERVICE_TOKEN_TTL_SECONDS,
  ) {}

  authorization(audience: string): string {
    const now = this.clock();
    const cached = this.cache.get(audience);
    if (cached && now < cached.renewAt) return cached.header;
    const iat = Math.floor(now / 1000);
    const name = this.keyring.name;
    const token = signServiceToken(
      { iss: name, sub: name, aud: audience, iat, exp: iat + this.ttlSeconds },
      this.keyring,
    );
    const header = `Bearer ${token}`;
    // Renewed at two thirds of its life: a token sent just before renewal still has a third left.
    this.cache.set(audience, { header, renewAt: now + (this.ttlSeconds * 1000 * 2) / 3 });
    return header;
  }
}
