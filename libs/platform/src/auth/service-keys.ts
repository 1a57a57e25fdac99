import { createHmac, createPrivateKey, createPublicKey, KeyObject } from 'node:crypto';

/**
 * Each service's own signing key (Ed25519) and the public keys of the services it accepts calls from.
 * A service holds only its own private key, so it can sign tokens naming itself and no other: the
 * verifier takes the key by the token's `kid`, which must equal the caller it names.
 *
 * Two ways to configure them:
 * - **Deployed**: `SERVICE_PRIVATE_KEY` (this service's PKCS#8 PEM) and `SERVICE_JWKS` (a JWKS of the
 *   services' public keys, `kid` = service name). `npm run service-keys` makes a set.
 * - **Development and tests**: `SERVICE_KEY_SEED`, from which every service's key pair is derived. Whoever
 *   holds the seed can act as any service, so a service refuses it under `NODE_ENV=production`; the
 *   scripts that start services (`scripts/services.ts`) hand each one only its own derived private key and
 *   the public key set, as a deployment does.
 */
export interface ServiceKeyring {
  /** This service's name: the `kid`, `iss` and `sub` of its tokens. */
  readonly name: string;
  readonly privateKey: KeyObject;
  /** The public key of the service named `name`, or undefined for a service this one does not know. */
  publicKey(name: string): KeyObject | undefined;
}

/** The fewest characters a development seed may have. */
export const MIN_SERVICE_KEY_SEED_LENGTH = 32;

/** Service names as every service uses them (`emr`, `pharmacy-supply-chain`…). */
export const SERVICE_NAME = /^[a-z][a-z0-9-]{0,39}$/;

/** The DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows it. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A public key as a JWKS entry. */
export interface ServicePublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

/** The private key of `name` derived from a development seed (HMAC-SHA256 of the name as the key's seed). */
export function derivedServiceKey(seed: string, name: string): KeyObject {
  if (seed.length < MIN_SERVICE_KEY_SEED_LENGTH)
    throw new Error(`the service key seed needs at least ${MIN_SERVICE_KEY_SEED_LENGTH} characters`);
  const keySeed = createHmac('sha256', seed).update(`hospital-service-key:${name}`).digest();
  return createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, keySeed]),
    format: 'der',
    type: 'pkcs8',
  });
}

/** The JWKS entry of a service's public key (given its private or public key). */
export function servicePublicJwk(name: string, key: KeyObject): ServicePublicJwk {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
    throw new Error(`the key of ${name} is not an Ed25519 key`);
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid: name, alg: 'EdDSA', use: 'sig' };
}

/** This service's private key as PKCS#8 PEM, the form `SERVICE_PRIVATE_KEY` takes. */
export function privateKeyPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** A keyring from a development seed: every name's key is derived on first use. */
export function seededServiceKeyring(seed: string, name: string): ServiceKeyring {
  const publicKeys = new Map<string, KeyObject>();
  return {
    name,
    privateKey: derivedServiceKey(seed, name),
    publicKey(other) {
      if (!SERVICE_NAME.test(other)) return undefined;
      let key = publicKeys.get(other);
      if (key === undefined) {
        key = createPublicKey(derivedServiceKey(seed, other));
        publicKeys.set(other, key);
      }
      return key;
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses a JWKS document of service public keys: each entry an Ed25519 key (`kty` OKP, `crv` Ed25519)
 * whose `kid` is a service name, each name once. Throws an Error saying which entry is wrong.
 */
export function parseServiceJwks(document: string): Map<string, KeyObject> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(document);
  } catch {
    throw new Error('SERVICE_JWKS is not JSON');
  }
  if (!isRecord(parsed) || !Array.isArray(parsed.keys))
    throw new Error('SERVICE_JWKS must be a JWKS document: {"keys":[…]}');
  const keys = new Map<string, KeyObject>();
  parsed.keys.forEach((entry: unknown, index) => {
    const where = `SERVICE_JWKS keys[${index}]`;
    if (!isRecord(entry) || typeof entry.kid !== 'string' || !SERVICE_NAME.test(entry.kid))
      throw new Error(`${where} needs a kid that is a service name`);
    if (entry.kty !== 'OKP' || entry.crv !== 'Ed25519' || typeof entry.x !== 'string')
      throw new Error(`${where} (${entry.kid}) must be an Ed25519 public key (kty OKP, crv Ed25519, x)`);
    if (keys.has(entry.kid)) throw new Error(`${where} names ${entry.kid} a second time`);
    try {
      keys.set(
        entry.kid,
        createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: entry.x }, format: 'jwk' }),
      );
    } catch {
      throw new Error(`${where} (${entry.kid}) is not a valid Ed25519 public key`);
    }
  });
  return keys;
}

/**
 * A keyring from a deployment's settings: this service's PEM private key and the public key set, which
 * must hold this service's own public key (the other services check its tokens against that entry, so a
 * mismatch is a configuration error, caught at start rather than as refused calls).
 */
export function configuredServiceKeyring(name: string, privateKey: string, jwks: string): ServiceKeyring {
  let key: KeyObject;
  try {
    // Environment files often carry a PEM on one line with literal \n.
    key = createPrivateKey(privateKey.replace(/\\n/g, '\n'));
  } catch {
    throw new Error('SERVICE_PRIVATE_KEY is not a PEM private key');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('SERVICE_PRIVATE_KEY must be an Ed25519 key');
  const publicKeys = parseServiceJwks(jwks);
  const own = publicKeys.get(name);
  if (own === undefined) throw new Error(`SERVICE_JWKS has no key for this service (${name})`);
  if (servicePublicJwk(name, own).x !== servicePublicJwk(name, key).x)
    throw new Error(`SERVICE_JWKS holds another public key for ${name} than SERVICE_PRIVATE_KEY's`);
  return { name, privateKey: key, publicKey: (other) => publicKeys.get(other) };
}
