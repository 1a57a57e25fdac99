import { BaseEnvironment, buildServiceConfig } from '@hospital/platform';
import { ownBaseUrl } from './message-transaction.module';

describe('ownBaseUrl (a producer’s check-back address)', () => {
  const config = (env: Record<string, string>) =>
    buildServiceConfig({ name: 'pharmacy-supply-chain', defaultPort: 3042 }, BaseEnvironment, {
      SERVICE_KEY_SEED: 'x'.repeat(32),
      ...env,
    });

  it('is SERVICE_URL when set, without a trailing slash', () => {
    expect(ownBaseUrl(config({ SERVICE_URL: 'http://pharmacy-supply-chain:3042/' }))).toBe(
      'http://pharmacy-supply-chain:3042',
    );
  });

  it('is the configured host and port otherwise, loopback for a wildcard host', () => {
    expect(ownBaseUrl(config({ HOST: '0.0.0.0' }))).toBe('http://127.0.0.1:3042');
    expect(ownBaseUrl(config({ HOST: '10.1.2.3', PORT: '4042' }))).toBe('http://10.1.2.3:4042');
  });
});
