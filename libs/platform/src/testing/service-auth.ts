import { randomBytes } from 'node:crypto';
import { HmacServiceTokenSigner, ServiceCredentials } from '../auth/service-token';

/**
 * The service auth secret of a test run. Every Nest app a spec boots reads its config from
 * `process.env`, and every service process it spawns inherits it, so one random secret set here (by the
 * jest setup file `service-auth.setup.ts`, once per spec file) is shared by all of them. An explicit
 * `SERVICE_AUTH_SECRET` in the environment wins.
 */
export function testServiceAuthSecret(): string {
  process.env.SERVICE_AUTH_SECRET ??= randomBytes(32).toString('base64url');
  return process.env.SERVICE_AUTH_SECRET;
}

/** Credentials of a service named `name` under the test run's secret: what a spec sends as that service. */
export function testServiceCredentials(name: string): ServiceCredentials {
  return new HmacServiceTokenSigner(name, testServiceAuthSecret());
}

/** `Authorization` header value of a token from `caller` to `audience` under the test run's secret. */
export function testServiceAuthorization(caller: string, audience: string): string {
  return testServiceCredentials(caller).authorization(audience);
}
