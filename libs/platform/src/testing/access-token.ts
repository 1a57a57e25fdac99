import {
  DEV_ISSUER_KEYS_VARIABLE,
  generateDevIssuerKeys,
  devIssuerEnv,
  devRoleFor,
  signDevToken,
  type DevIssuerKeys,
  type DevTokenOptions,
} from '../auth/dev-issuer';
import type { Role } from '../auth/principal';

/**
 * The token issuer of a test run. Every Nest app a spec boots reads `AUTH_JWKS`/`AUTH_ISSUER` from
 * `process.env`, and every service process it spawns inherits them, so one RS256 key pair made here (by
 * the jest setup file `service-auth.setup.ts`, once per spec file) is trusted by all of them.
 */
let keys: DevIssuerKeys | undefined;

export function testIssuerKeys(): DevIssuerKeys {
  if (!keys) {
    keys = generateDevIssuerKeys();
    const env = devIssuerEnv(keys);
    process.env.AUTH_JWKS = env.AUTH_JWKS;
    process.env.AUTH_ISSUER = env.AUTH_ISSUER;
    process.env[DEV_ISSUER_KEYS_VARIABLE] = JSON.stringify(keys);
  }
  return keys;
}

/** A token of the test issuer for `role` (its role's scopes unless `extra.scope` narrows them). */
export function testAccessToken(
  role: Role = 'administrator',
  extra: Partial<Omit<DevTokenOptions, 'role'>> = {},
): string {
  return signDevToken(testIssuerKeys(), { role, sub: `test-${role}`, ...extra });
}

/** The `Authorization` header value of `testAccessToken(role, extra)`. */
export function testAuthorization(
  role: Role = 'administrator',
  extra: Partial<Omit<DevTokenOptions, 'role'>> = {},
): string {
  return `Bearer ${testAccessToken(role, extra)}`;
}

/** The `Authorization` header a spec sends to `url`: an administrator's on the admin APIs, else a clinician's. */
export function testAuthorizationFor(url: string): string {
  return testAuthorization(devRoleFor(url));
}
