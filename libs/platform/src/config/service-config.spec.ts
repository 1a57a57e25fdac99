import {
  BaseEnvironment,
  buildServiceConfig,
  ConfigError,
  loadEnvironment,
  messageProducerAddresses,
} from './service-config';

const SECRET = 'a-service-auth-secret-of-32-chars';

describe('service configuration', () => {
  it('derives the database name, port and peers from the service and its environment', () => {
    const config = buildServiceConfig({ name: 'lis', defaultPort: 3002 }, BaseEnvironment, {
      LIS_URL: 'http://lab:9002',
      SERVICE_AUTH_SECRET: SECRET,
    });
    expect(config.port).toBe(3002);
    expect(config.database.database).toBe('hospital_lis');
    expect(config.peers.lis).toBe('http://lab:9002');
    expect(
      buildServiceConfig({ name: 'lis', defaultPort: 3002 }, BaseEnvironment, {
        PORT: '4000',
        SERVICE_AUTH_SECRET: SECRET,
      }).port,
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

  it('refuses to build a service without SERVICE_AUTH_SECRET, naming it; tools reading the database do not need it', () => {
    const build = () => buildServiceConfig({ name: 'lis', defaultPort: 3002 }, BaseEnvironment, {});
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(/SERVICE_AUTH_SECRET is not set/);
    expect(loadEnvironment(BaseEnvironment, {}).PGPORT).toBe(5432);
  });

  it('refuses a short SERVICE_AUTH_SECRET without echoing it', () => {
    const short = 'too-short-a-secret';
    const load = () => loadEnvironment(BaseEnvironment, { SERVICE_AUTH_SECRET: short });
    expect(load).toThrow(
      /SERVICE_AUTH_SECRET=\(hidden\): SERVICE_AUTH_SECRET must be at least 32 characters/,
    );
    expect(load).not.toThrow(new RegExp(short));
  });

  it('reads MESSAGE_PRODUCERS as name=url pairs and refuses anything else', () => {
    const env = loadEnvironment(BaseEnvironment, {
      MESSAGE_PRODUCERS: 'pharmacy-supply-chain=http://supply:3042/, ward-orders=https://orders.local',
    });
    expect(messageProducerAddresses(env)).toEqual({
      'pharmacy-supply-chain': 'http://supply:3042',
      'ward-orders': 'https://orders.local',
    });
    expect(messageProducerAddresses(loadEnvironment(BaseEnvironment, { MESSAGE_PRODUCERS: ' ' }))).toEqual(
      {},
    );
    for (const bad of ['supply=ftp://x', 'Supply=http://x', 'supply http://x', 'a=http://x,,b=http://y'])
      expect(() => loadEnvironment(BaseEnvironment, { MESSAGE_PRODUCERS: bad })).toThrow(/MESSAGE_PRODUCERS/);
  });
});
