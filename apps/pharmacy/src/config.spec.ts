import { ConfigError, messageProducerAddresses } from '@hospital/platform';
import { inventoryConfig, messageServerConfig, supplierConfig, supplyChainConfig } from './config';

const SECRET = 'a-service-auth-secret-of-32-chars';

describe('pharmacy configuration', () => {
  it('fails every part that uses the message broker on an invalid AMQP_URL, naming it', () => {
    for (const configure of [inventoryConfig, supplierConfig, supplyChainConfig, messageServerConfig]) {
      const build = () => configure({ SERVICE_KEY_SEED: SECRET, AMQP_URL: 'http://not-a-broker' });
      expect(build).toThrow(ConfigError);
      expect(build).toThrow(/AMQP_URL="http:\/\/not-a-broker"/);
    }
  });

  it('gives each part its own settings: the supplier its delay, the supply chain its message server', () => {
    expect(supplierConfig({ SERVICE_KEY_SEED: SECRET }).env.SUPPLIER_DELAY_MS).toBe(2_000);
    expect(() => inventoryConfig({ SERVICE_KEY_SEED: SECRET, SUPPLIER_DELAY_MS: 'never' })).not.toThrow();
    expect(supplyChainConfig({ SERVICE_KEY_SEED: SECRET }).peers).toEqual({
      'pharmacy-messages': 'http://127.0.0.1:3044',
    });
  });

  it('has the message server serve the supply chain by default', () => {
    const config = messageServerConfig({ SERVICE_KEY_SEED: SECRET });
    expect(messageProducerAddresses(config.env)).toEqual({
      'pharmacy-supply-chain': 'http://127.0.0.1:3042',
    });
  });
});
