import { BaseEnvironment, buildServiceConfig, ConfigError, loadEnvironment } from './service-config';

describe('service configuration', () => {
  it('derives the database name, port and peers from the service and its environment', () => {
    const config = buildServiceConfig({ name: 'lis', defaultPort: 3002 }, BaseEnvironment, {
      LIS_URL: 'http://lab:9002',
    });
    expect(config.port).toBe(3002);
    expect(config.database.database).toBe('hospital_lis');
    expect(config.peers.lis).toBe('http://lab:9002');
    expect(
      buildServiceConfig({ name: 'lis', defaultPort: 3002 }, BaseEnvironment, { PORT: '4000' }).port,
    ).toBe(4000);
  });

  it('fails fast, naming every invalid variable with the value it was given', () => {
    const load = () =>
      loadEnvironment(BaseEnvironment, { PORT: 'abc', AMQP_URL: 'http://nope', LOG_LEVEL: 'loud' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/PORT="abc"/);
    expect(load).toThrow(/AMQP_URL="http:\/\/nope"/);
    expect(load).toThrow(/LOG_LEVEL="loud"/);
  });
});
