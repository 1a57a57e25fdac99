import { randomBytes } from 'node:crypto';
import { seededServiceKeyring, type ServiceKeyring } from '../auth/service-keys';
import { ServiceTokenSigner, type ServiceCredentials } from '../auth/service-token';

/**
 * The development key seed of a test run. Every Nest app a spec boots reads its config from
 * `process.env`, and every service process it spawns gets its own key derived from it
 * (`scripts/services.ts`), so one random seed set here (by the jest setup file `service-auth.setup.ts`,
 * once per spec file) gives every service of the spec its own key pair. An explicit `SERVICE_KEY_SEED` in
 * the environment wins.
 */
export function testServiceKeySeed(): string {
  process.env.SERVICE_KEY_SEED ??= randomBytes(32).toString('base64url');
  return process.env.SERVICE_KEY_SEED;
}

/** The keyring of a service named `name` under the test run's seed. */
export function testServiceKeyring(name: string): ServiceKeyring {
  return seededServiceKeyring(testServiceKeySeed(), name);
}

/** Credentials of a service named `name` under the test run's seed: what a spec sends as that service. */
export function testServiceCredentials(name: string): ServiceCredentials {
  return new ServiceTokenSigner(testServiceKeyring(name));
}

/** `Authorization` header value of a token from `caller` to `audience` under the test run's seed. */
export function testServiceAuthorization(caller: string, audience: string): string {
  return testServiceCredentials(caller).authorization(audience);
}
