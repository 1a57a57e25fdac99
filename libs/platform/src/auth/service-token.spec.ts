import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import {
  HmacServiceTokenSigner,
  HmacServiceTokenVerifier,
  ServiceAuthError,
  ServiceTokenClaims,
  signServiceToken,
  verifyServiceToken,
} from './service-token';

const SECRET = 'the-platform-shared-secret-0123456789';
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
  verifyServiceToken(token, SECRET, { audience, now });

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
/** A token with any header and claims, correctly signed: only the checks after the signature can refuse it. */
function forged(header: unknown, body: unknown): string {
  const unsigned = `${b64(header)}.${b64(body)}`;
  return `${unsigned}.${createHmac('sha256', SECRET).update(unsigned).digest('base64url')}`;
}

describe('service identity tokens', () => {
  it('verifies a token it signed and names the caller', () => {
    expect(verify(signServiceToken(claims(), SECRET))).toEqual({ name: 'emr', expiresAt: (NOW + 60) * 1000 });
  });

  it('refuses a token with any single character changed, dropped or added (property)', () => {
    const token = signServiceToken(claims(), SECRET);
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
    const token = signServiceToken(claims(), SECRET);
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

  it('refuses tokens signed with another secret, whatever they claim (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 32, maxLength: 64 }).filter((s) => s !== SECRET),
        fc.constantFrom('emr', 'lis', 'pacs', 'pharmacy-messages'),
        (secret, caller) => {
          const token = signServiceToken(claims({ iss: caller, sub: caller }), secret);
          expect(refusal(() => verify(token)).reason).toBe('bad token signature');
        },
      ),
    );
  });

  it('accepts an expired token only within the clock skew, and refuses one issued in the future', () => {
    const token = signServiceToken(claims(), SECRET);
    expect(verify(token, NOW + 65).name).toBe('emr');
    expect(refusal(() => verify(token, NOW + 66))).toMatchObject({ status: 401, reason: 'token expired' });
    const early = signServiceToken(claims({ iat: NOW + 30, exp: NOW + 90 }), SECRET);
    expect(refusal(() => verify(early))).toMatchObject({ status: 401, reason: 'token issued in the future' });
  });

  it('refuses a valid token for another service with 403', () => {
    const token = signServiceToken(claims({ aud: 'pacs' }), SECRET);
    expect(refusal(() => verify(token))).toMatchObject({ status: 403 });
    expect(verify(token, NOW, 'pacs').name).toBe('emr');
  });

  it('refuses other algorithms, missing or inconsistent claims and long lives, even when signed', () => {
    const cases: [string, unknown, unknown, string][] = [
      ['alg none', { alg: 'none', typ: 'JWT' }, claims(), 'token algorithm must be HS256'],
      ['alg RS256', { alg: 'RS256' }, claims(), 'token algorithm must be HS256'],
      [
        'iss is not sub',
        { alg: 'HS256' },
        claims({ iss: 'lis' }),
        'token must name the calling service in iss and sub',
      ],
      [
        'sub not a service name',
        { alg: 'HS256' },
        claims({ iss: 'EMR', sub: 'EMR' }),
        'token must name the calling service in iss and sub',
      ],
      [
        'no aud',
        { alg: 'HS256' },
        { ...claims(), aud: undefined },
        'token must name the service called in aud',
      ],
      [
        'aud as a list',
        { alg: 'HS256' },
        { ...claims(), aud: ['lis'] },
        'token must name the service called in aud',
      ],
      ['no exp', { alg: 'HS256' }, { ...claims(), exp: undefined }, 'token must carry iat and exp'],
      ['exp before iat', { alg: 'HS256' }, claims({ exp: NOW - 1 }), 'token must carry iat and exp'],
      ['a day long', { alg: 'HS256' }, claims({ exp: NOW + 86_400 }), 'token lives too long'],
      ['claims not an object', { alg: 'HS256' }, ['emr'], 'malformed token claims'],
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

  it('will not sign or verify with a secret shorter than 32 characters', () => {
    expect(() => signServiceToken(claims(), 'short')).toThrow(/at least 32/);
    expect(() => new HmacServiceTokenVerifier('short', 'lis')).toThrow(/at least 32/);
    expect(() => new HmacServiceTokenSigner('emr', 'short')).toThrow(/at least 32/);
  });

  it('reuses a signed token per audience until two thirds of its life, then signs a new one', async () => {
    let now = NOW * 1000;
    const signer = new HmacServiceTokenSigner('emr', SECRET, () => now);
    const lis = new HmacServiceTokenVerifier(SECRET, 'lis', () => now);
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
    const lis = new HmacServiceTokenVerifier(SECRET, 'lis');
    await expect(lis.verify('not-a-token')).rejects.toBeInstanceOf(ServiceAuthError);
  });
});
