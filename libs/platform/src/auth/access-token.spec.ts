import { createHmac } from 'node:crypto';
import { JwksAccessTokenVerifier, accessTokenSettings, parseKeySet } from './access-token';
import { devIssuerJwks, generateDevIssuerKeys, signDevToken } from './dev-issuer';
import { ServiceAuthError } from './service-token';
import { grants, intersectScopes, parseScope, parseScopes } from './scopes';
import { ConfigError } from '../config/environment';

const NOW = 1_800_000_000;
const keys = generateDevIssuerKeys('https://issuer.test');
const other = generateDevIssuerKeys('https://issuer.test');
const verifier = new JwksAccessTokenVerifier(
  { jwks: devIssuerJwks(keys), issuer: 'https://issuer.test', audience: 'hospital', clockSkewSeconds: 30 },
  () => NOW * 1000,
);

async function refusal(token: string): Promise<ServiceAuthError> {
  const error = await verifier.verify(token).then(
    () => new Error('token accepted'),
    (e: unknown) => e,
  );
  if (error instanceof ServiceAuthError) return error;
  throw error;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('SMART scopes', () => {
  it('parses v2 and v1 spellings and refuses malformed ones', () => {
    expect(parseScope('user/Patient.rs')).toMatchObject({ context: 'user', resourceType: 'Patient' });
    expect([...(parseScope('user/Observation.write')?.permissions ?? [])]).toEqual(['c', 'u', 'd']);
    expect([...(parseScope('system/*.read')?.permissions ?? [])]).toEqual(['r', 's']);
    for (const bad of [
      'user/Patient.sr',
      'user/Patient.rr',
      'patient/Patient.rs',
      'user/patient.rs',
      'openid',
      'user/Patient.',
    ])
      expect(parseScope(bad)).toBeUndefined();
  });

  it("narrows a token's scopes to its role's", () => {
    const role = parseScopes(['user/*.rs', 'user/Observation.cu']);
    expect(intersectScopes(parseScopes('user/*.cruds'), role)).toEqual(['user/*.rs', 'user/Observation.cu']);
    expect(intersectScopes(parseScopes('user/Patient.cruds user/Observation.d'), role)).toEqual([
      'user/Patient.rs',
    ]);
    expect(grants(['user/*.rs'], 'Encounter', 's')).toBe(true);
    expect(grants(['user/*.rs'], 'Encounter', 'c')).toBe(false);
  });
});

describe('JwksAccessTokenVerifier', () => {
  it('proves the user, role and the scopes within the role', async () => {
    const token = signDevToken(keys, {
      role: 'nurse',
      sub: 'n-1',
      name: 'Ana',
      scope: 'user/*.cruds',
      now: NOW,
    });
    await expect(verifier.verify(token)).resolves.toEqual({
      kind: 'user',
      id: 'n-1',
      name: 'Ana',
      role: 'nurse',
      scopes: ['user/*.rs', 'user/Observation.cu', 'user/Encounter.cu'],
    });
    const auditor = signDevToken(keys, { role: 'auditor', scope: 'user/*.cruds', now: NOW });
    expect((await verifier.verify(auditor)).scopes).toEqual(['user/AuditEvent.rs']);
  });

  it('accepts an expired token only within the clock skew', async () => {
    const token = signDevToken(keys, { role: 'clinician', now: NOW - 3600 - 20, ttlSeconds: 3600 });
    expect((await verifier.verify(token)).role).toBe('clinician');
    const expired = signDevToken(keys, { role: 'clinician', now: NOW - 3600 - 31, ttlSeconds: 3600 });
    expect(await refusal(expired)).toMatchObject({ status: 401, reason: 'token expired' });
  });

  it('refuses with 401 and a reason every token that proves nothing', async () => {
    const good = signDevToken(keys, { role: 'clinician', now: NOW });
    const [h, p] = good.split('.') as [string, string, string];
    const hs256 = `${b64({ alg: 'HS256', typ: 'JWT' })}.${p}`;
    const cases: [string, string][] = [
      [signDevToken(other, { role: 'clinician', now: NOW }), 'token signed by an unknown key'],
      [
        `${h}.${p}.${signDevToken(other, { role: 'clinician', now: NOW }).split('.')[2]}`,
        'bad token signature',
      ],
      [`${b64({ alg: 'none', typ: 'JWT' })}.${p}.`, 'token algorithm must be RS256'],
      [
        `${hs256}.${createHmac('sha256', 'k').update(hs256).digest('base64url')}`,
        'token algorithm must be RS256',
      ],
      [
        signDevToken(keys, { role: 'clinician', now: NOW, claims: { iss: 'https://evil' } }),
        'token from another issuer',
      ],
      [
        signDevToken(keys, { role: 'clinician', now: NOW, audience: 'elsewhere' }),
        'token for another audience',
      ],
      [
        signDevToken(keys, { role: 'clinician', now: NOW, claims: { nbf: NOW + 120 } }),
        'token not yet valid',
      ],
      [
        signDevToken(keys, { role: 'clinician', now: NOW, claims: { role: 'janitor' } }),
        'token must carry a hospital role',
      ],
      [
        signDevToken(keys, { role: 'clinician', now: NOW, claims: { scope: 3 } }),
        'token must carry its scopes in scope',
      ],
      [
        signDevToken(keys, { role: 'clinician', now: NOW, claims: { exp: undefined } }),
        'token claim exp is missing or invalid',
      ],
      ['not.a.token', 'malformed token'],
    ];
    for (const [token, reason] of cases) expect(await refusal(token)).toMatchObject({ status: 401, reason });
  });
});

describe('accessTokenSettings', () => {
  it('names the variable that is missing or wrong', () => {
    const env = { AUTH_AUDIENCE: 'hospital', AUTH_CLOCK_SKEW_SECONDS: 30 };
    expect(() => accessTokenSettings(env)).toThrow(/AUTH_JWKS/);
    expect(() => accessTokenSettings({ ...env, AUTH_JWKS: JSON.stringify(devIssuerJwks(keys)) })).toThrow(
      /AUTH_ISSUER/,
    );
    expect(() =>
      accessTokenSettings({ ...env, AUTH_JWKS_FILE: '/nonexistent/jwks.json', AUTH_ISSUER: 'x' }),
    ).toThrow(/AUTH_JWKS_FILE/);
    expect(() => parseKeySet('{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}', 'AUTH_JWKS')).toThrow(ConfigError);
    const published = parseKeySet(JSON.stringify({ keys: [keys.privateJwk] }), 'AUTH_JWKS');
    expect(published.keys[0]).not.toHaveProperty('d');
  });
});
