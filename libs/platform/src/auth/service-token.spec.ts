import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { seededServiceKeyring, type ServiceKeyring } from './service-keys';
import {
  KeyringServiceTokenVerifier,
  ServiceAuthError,
  ServiceTokenClaims,
  ServiceTokenSigner,
  signServiceToken,
  verifyServiceToken,
} from './service-token';

const SEED = 'the-platform-development-seed-0123456789';
/** The keyring of the service `name` under the spec's seed. */
const ring = (name: string, seed = SEED): ServiceKeyring => seededServiceKeyring(seed, name);
const EMR = ring('emr');
const NOW = 1_800_000_000;
const claims = (overrides: Partial<ServiceTokenClaims> = {}): ServiceTokenClaims => ({
  iss: 'emr',
  sub: 'emr',
  aud: 'lis',
  iat: NOW,
  exp: NOW + 60,
  ...overrides,
});
const verify = (token: string, now = NOW, audience = 'lis') =>
  verifyServiceToken(token, ring(audience), { audience, now });

/** The refusal `verify` throws, or a failure when it accepts. */
function refusal(run: () => unknown): ServiceAuthError {
  try {
    run();
  } catch (error) {
    if (error instanceof ServiceAuthError) return error;
    throw error;
  }
  throw new Error('token accepted');
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
/**
 * A token with any header and claims, signed with the emr's key (the key its `kid` names when that is
 * emr): only the checks after the signature can refuse it.
 */
function forged(header: unknown, body: unknown, keyring: ServiceKeyring = EMR): string {
  const unsigned = `${b64(header)}.${b64(body)}`;
  return `${unsigned}.${sign(null, Buffer.from(unsigned), keyring.privateKey).toString('base64url')}`;
}

describe('service identity tokens', () => {
  it('verifies a token it signed and names the caller', () => {
    expect(verify(signServiceToken(claims(), EMR))).toEqual({ name: 'emr', expiresAt: (NOW + 60) * 1000 });
  });

  it('refuses a token with any single character changed, dropped or added (property)', () => {
    const token = signServiceToken(claims(), EMR);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    fc.assert(
      fc.property(
        fc.nat({ max: token.length - 1 }),
        fc.constantFrom(...alphabet.split('')),
        fc.constantFrom('replace', 'drop', 'insert'),
        (at, char, how) => {
          const tampered =
            how === 'replace'
              ? token.slice(0, at) + char + token.slice(at + 1)
              : how === 'drop'
                ? token.slice(0, at) + token.slice(at + 1)
                : token.slice(0, at) + char + token.slice(at);
          fc.pre(tampered !== token);
          expect(refusal(() => verify(tampered)).status).toBe(401);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('refuses every other character at every position, the unused bits of the last one too', () => {
    const token = signServiceToken(claims(), EMR);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    let tried = 0;
    for (let at = 0; at < token.length; at += 1)
      for (const char of alphabet) {
        if (char === token[at]) continue;
        const tampered = token.slice(0, at) + char + token.slice(at + 1);
        expect(refusal(() => verify(tampered)).status).toBe(401);
        tried += 1;
      }
    expect(tried).toBe(token.length * (alphabet.length - 1));
  });

  it("refuses tokens signed with any key but the named service's, whatever they claim (property)", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 32, maxLength: 64 }).filter((s) => s !== SEED),
        fc.constantFrom('emr', 'lis', 'pacs', 'pharmacy-messages'),
        (seed, caller) => {
          const token = signServiceToken(claims({ iss: caller, sub: caller }), ring(caller, seed));
          expect(refusal(() => verify(token)).reason).toBe('bad token signature');
        },
      ),
      { numRuns: 50 },
    );
  });

  it('refuses a service that signs a token naming another, however it names it (property)', () => {
    const services = ['emr', 'lis', 'pacs', 'pharmacy', 'gateway', 'care-plans'];
    fc.assert(
      fc.property(
        fc.constantFrom(...services),
        fc.constantFrom(...services),
        fc.constantFrom('kid', 'claims', 'both'),
        (signer, victim, how) => {
          fc.pre(signer !== victim);
          const kid = how === 'claims' ? signer : victim;
          const who = how === 'kid' ? signer : victim;
          const token = forged({ alg: 'EdDSA', kid }, claims({ iss: who, sub: who }), ring(signer));
          const refused = refusal(() => verify(token));
          expect(refused.status).toBe(401);
          // The victim's key does not check the signer's signature; the signer's key vouches only for it.
          expect(refused.reason).toBe(
            how === 'claims'
              ? 'token must name the calling service in iss, sub and kid'
              : 'bad token signature',
          );
        },
      ),
    );
  });

  it('refuses a kid no service has', () => {
    const unknown = { publicKey: () => undefined, name: 'lis', privateKey: EMR.privateKey } as ServiceKeyring;
    const token = signServiceToken(claims(), EMR);
    expect(refusal(() => verifyServiceToken(token, unknown, { audience: 'lis', now: NOW }))).toMatchObject({
      status: 401,
      reason: 'token key is not a known service',
    });
    expect(refusal(() => verify(forged({ alg: 'EdDSA' }, claims())))).toMatchObject({
      reason: 'token key is not a known service',
    });
  });

  it('accepts an expired token only within the clock skew, and refuses one issued in the future', () => {
    const token = signServiceToken(claims(), EMR);
    expect(verify(token, NOW + 65).name).toBe('emr');
    expect(refusal(() => verify(token, NOW + 66))).toMatchObject({ status: 401, reason: 'token expired' });
    const early = signServiceToken(claims({ iat: NOW + 30, exp: NOW + 90 }), EMR);
    expect(refusal(() => verify(early))).toMatchObject({ status: 401, reason: 'token issued in the future' });
  });

  it('refuses a valid token for another service with 403', () => {
    const token = signServiceToken(claims({ aud: 'pacs' }), EMR);
    expect(refusal(() => verify(token))).toMatchObject({ status: 403 });
    expect(verify(token, NOW, 'pacs').name).toBe('emr');
  });

  it('refuses other algorithms, missing or inconsistent claims and long lives, even when signed', () => {
    const cases: [string, unknown, unknown, string][] = [
      ['alg none', { alg: 'none', typ: 'JWT', kid: 'emr' }, claims(), 'token algorithm must be EdDSA'],
      ['alg HS256', { alg: 'HS256', kid: 'emr' }, claims(), 'token algorithm must be EdDSA'],
      ['alg RS256', { alg: 'RS256', kid: 'emr' }, claims(), 'token algorithm must be EdDSA'],
      [
        'iss is not sub',
        { alg: 'EdDSA', kid: 'emr' },
        claims({ iss: 'lis' }),
        'token must name the calling service in iss, sub and kid',
      ],
      [
        'sub not a service name',
        { alg: 'EdDSA', kid: 'emr' },
        claims({ iss: 'EMR', sub: 'EMR' }),
        'token must name the calling service in iss, sub and kid',
      ],
      [
        'no aud',
        { alg: 'EdDSA', kid: 'emr' },
        { ...claims(), aud: undefined },
        'token must name the service called in aud',
      ],
      [
        'aud as a list',
        { alg: 'EdDSA', kid: 'emr' },
        { ...claims(), aud: ['lis'] },
        'token must name the service called in aud',
      ],
      [
        'no exp',
        { alg: 'EdDSA', kid: 'emr' },
        { ...claims(), exp: undefined },
        'token must carry iat and exp',
      ],
      [
        'exp before iat',
        { alg: 'EdDSA', kid: 'emr' },
        claims({ exp: NOW - 1 }),
        'token must carry iat and exp',
      ],
      ['a day long', { alg: 'EdDSA', kid: 'emr' }, claims({ exp: NOW + 86_400 }), 'token lives too long'],
      ['claims not an object', { alg: 'EdDSA', kid: 'emr' }, ['emr'], 'malformed token claims'],
    ];
    for (const [what, header, body, reason] of cases)
      expect({ what, ...refusal(() => verify(forged(header, body))) }).toMatchObject({
        what,
        status: 401,
        reason,
      });
    for (const malformed of ['', 'abc', 'a.b', 'a.b.c.d', 'a..c', 'a.b.c d'])
      expect(refusal(() => verify(malformed)).reason).toBe('malformed token');
  });

  it('refuses an RSA signature under a key it does not hold, even with alg EdDSA', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const unsigned = `${b64({ alg: 'EdDSA', kid: 'emr' })}.${b64(claims())}`;
    const token = `${unsigned}.${sign('sha256', Buffer.from(unsigned), privateKey).toString('base64url')}`;
    expect(refusal(() => verify(token)).reason).toBe('bad token signature');
  });

  it('reuses a signed token per audience until two thirds of its life, then signs a new one', async () => {
    let now = NOW * 1000;
    const signer = new ServiceTokenSigner(EMR, () => now);
    const lis = new KeyringServiceTokenVerifier(ring('lis'), () => now);
    const first = signer.authorization('lis');
    expect(first).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(signer.authorization('pacs')).not.toBe(first);
    now += 39_000;
    expect(signer.authorization('lis')).toBe(first);
    now += 1_000;
    const second = signer.authorization('lis');
    expect(second).not.toBe(first);
    await expect(lis.verify(second.slice('Bearer '.length))).resolves.toEqual({
      name: 'emr',
      expiresAt: now + 60_000,
    });
    // A cached token is still valid when it is last handed out.
    await expect(lis.verify(first.slice('Bearer '.length))).resolves.toMatchObject({ name: 'emr' });
  });

  it('the verifier rejects with ServiceAuthError, never a generic error', async () => {
    const lis = new KeyringServiceTokenVerifier(ring('lis'));
    await expect(lis.verify('not-a-token')).rejects.toBeInstanceOf(ServiceAuthError);
  });

  it('answers a token it accepted from memory until its exp plus the skew, then refuses it as expired', async () => {
    let now = NOW * 1000;
    const lis = new KeyringServiceTokenVerifier(ring('lis'), () => now);
    const token = signServiceToken(claims(), EMR);
    await expect(lis.verify(token)).resolves.toMatchObject({ name: 'emr' });
    now = (NOW + 65) * 1000;
    await expect(lis.verify(token)).resolves.toMatchObject({ name: 'emr' });
    now += 1_000;
    await expect(lis.verify(token)).rejects.toMatchObject({ status: 401, reason: 'token expired' });
  });

  it('remembers only what it accepted: a tampered copy of an accepted token is still refused', async () => {
    const lis = new KeyringServiceTokenVerifier(ring('lis'), () => NOW * 1000);
    const token = signServiceToken(claims(), EMR);
    await lis.verify(token);
    const [header, , signature] = token.split('.');
    const other = `${header}.${b64(claims({ exp: NOW + 120 }))}.${signature}`;
    await expect(lis.verify(other)).rejects.toMatchObject({ reason: 'bad token signature' });
  });
});
