import { ConfigError } from '@hospital/platform';
import { configuredBackends, gatewayConfig } from './config';

const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  SERVICE_KEY_SEED: 'x'.repeat(32),
  ...extra,
});

describe('gatewayConfig', () => {
  it('listens on 8080 and routes to every backend at its default port', () => {
    const config = gatewayConfig(env());
    expect(config.port).toBe(8080);
    const backends = configuredBackends(config);
    expect(backends.map((b) => b.name)).toEqual([
      'emr',
      'pharmacy',
      'icu-monitor',
      'appointments',
      'care-plans',
      'telemedicine',
      'audit',
      'pharmacy-supply-chain',
      'referral-inbox',
      'pharmacy-inventory',
    ]);
    expect(backends.find((b) => b.name === 'audit')?.url).toBe('http://127.0.0.1:3009');
    // The inventory has no FHIR API: reached under /api only, never asked for a CapabilityStatement.
    expect(backends.filter((b) => !b.fhir).map((b) => b.name)).toEqual(['pharmacy-inventory']);
  });

  it('takes a subset of backends and their URLs from the environment', () => {
    const config = gatewayConfig(
      env({ GATEWAY_BACKENDS: 'referral-inbox, emr', EMR_URL: 'http://emr.internal:9000/' }),
    );
    expect(configuredBackends(config)).toEqual([
      { name: 'emr', url: 'http://emr.internal:9000', fhir: true },
      { name: 'referral-inbox', url: 'http://127.0.0.1:3081', fhir: true },
    ]);
  });

  it.each([
    ['GATEWAY_BACKENDS', 'emr,unicorn'],
    ['CORS_ORIGINS', 'not an origin'],
    ['RATE_LIMIT_PER_SECOND', '-1'],
    ['EMR_URL', 'not a url'],
  ])('refuses an invalid %s, naming it', (name, value) => {
    expect(() => gatewayConfig(env({ [name]: value }))).toThrow(ConfigError);
    expect(() => gatewayConfig(env({ [name]: value }))).toThrow(name);
  });
});
