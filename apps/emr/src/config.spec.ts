import { ConfigError } from '@hospital/platform';
import { emrConfig } from './config';

const SECRET = 'a-service-auth-secret-of-32-chars';

describe('EMR configuration', () => {
  it('reads two- and three-phase commit, its departments and consult peers, and the broker of its audit trail', () => {
    const config = emrConfig({
      SERVICE_KEY_SEED: SECRET,
      AMQP_URL: 'amqp://broker:5672',
      LIS_URL: 'http://lab:9002',
    });
    expect(config.peers).toEqual({
      lis: 'http://lab:9002',
      pacs: 'http://127.0.0.1:3003',
      telemedicine: 'http://127.0.0.1:3008',
      'referral-inbox': 'http://127.0.0.1:3081',
    });
    expect(config.env.TX_IN_DOUBT_AFTER_MS).toBe(15_000);
    expect(config.env.TX_3PC_TERMINATION).toBe('peers');
    expect(config.env.AMQP_URL).toBe('amqp://broker:5672');
  });

  it('fails naming a department address that is not a URL', () => {
    const build = () => emrConfig({ SERVICE_KEY_SEED: SECRET, PACS_URL: 'imaging archive' });
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(/PACS_URL="imaging archive"/);
  });
});
