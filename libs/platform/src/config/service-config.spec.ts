import {
  BaseEnvironment,
  buildServiceConfig,
  ConfigError,
  DatabaseEnvironment,
  environmentOf,
  EnvironmentPiece,
  loadEnvironment,
  messageProducerAddresses,
  MessageServerEnvironment,
  MessagingEnvironment,
  ServiceAuthEnvironment,
  TransactionsEnvironment,
  TwoPhaseCommitEnvironment,
} from './service-config';
import {
  derivedServiceKey,
  privateKeyPem,
  servicePublicJwk,
  type ServicePublicJwk,
} from '../auth/service-keys';

const SECRET = 'a-service-auth-secret-of-32-chars';

describe('service configuration', () => {
  it('derives the database name, port and peers from the service, its peers and their <NAME>_URL', () => {
    const ward = {
      name: 'ward',
      defaultPort: 3002,
      peers: { records: 'http://127.0.0.1:3001', 'ward-orders': 'http://127.0.0.1:3050' },
    };
    const config = buildServiceConfig(ward, [], {
      RECORDS_URL: 'http://records:9001',
      SERVICE_KEY_SEED: SECRET,
    });
    expect(config.port).toBe(3002);
    expect(config.database.database).toBe('hospital_ward');
    expect(config.peers).toEqual({ records: 'http://records:9001', 'ward-orders': 'http://127.0.0.1:3050' });
    expect(buildServiceConfig(ward, [], { PORT: '4000', SERVICE_KEY_SEED: SECRET }).port).toBe(4000);
    expect(() =>
      buildServiceConfig(ward, [], { WARD_ORDERS_URL: 'not a url', SERVICE_KEY_SEED: SECRET }),
    ).toThrow(/WARD_ORDERS_URL="not a url": WARD_ORDERS_URL must be a URL address/);
    // A variable of a peer the service did not declare is neither read nor validated.
    expect(
      buildServiceConfig(ward, [], { PACS_URL: 'x', SERVICE_KEY_SEED: SECRET }).peers,
    ).not.toHaveProperty('pacs');
  });

  it('fails fast, naming every invalid variable with the value it was given', () => {
    const load = () =>
      loadEnvironment(BaseEnvironment, { PORT: 'abc', AMQP_URL: 'http://nope', LOG_LEVEL: 'loud' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/PORT="abc"/);
    expect(load).toThrow(/AMQP_URL="http:\/\/nope"/);
    expect(load).toThrow(/LOG_LEVEL="loud"/);
  });

  it('refuses to build a service without its keys, naming them; tools reading the database do not need them', () => {
    const build = () => buildServiceConfig({ name: 'lab', defaultPort: 3002 }, [], {});
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(/SERVICE_PRIVATE_KEY and SERVICE_JWKS are not set/);
    expect(loadEnvironment(DatabaseEnvironment, {}).PGPORT).toBe(5432);
  });

  it('takes a deployed key and key set, and refuses a key set without this service or with another key for it', () => {
    const lab = { name: 'lab', defaultPort: 3002 };
    const labKey = derivedServiceKey(SECRET, 'lab');
    const jwks = (...keys: ServicePublicJwk[]) => JSON.stringify({ keys });
    const deployed = {
      SERVICE_PRIVATE_KEY: privateKeyPem(labKey).replace(/\n/g, '\\n'),
      SERVICE_JWKS: jwks(
        servicePublicJwk('lab', labKey),
        servicePublicJwk('ward', derivedServiceKey(SECRET, 'ward')),
      ),
    };
    expect(buildServiceConfig(lab, [], deployed).service.name).toBe('lab');
    const cases: [Record<string, string>, RegExp][] = [
      [
        { ...deployed, SERVICE_JWKS: jwks(servicePublicJwk('ward', labKey)) },
        /SERVICE_JWKS has no key for this service \(lab\)/,
      ],
      [
        { ...deployed, SERVICE_JWKS: jwks(servicePublicJwk('lab', derivedServiceKey(SECRET, 'ward'))) },
        /another public key for lab than SERVICE_PRIVATE_KEY's/,
      ],
      [
        { ...deployed, SERVICE_JWKS: '{"keys":[{"kid":"lab","kty":"RSA"}]}' },
        /keys\[0\] \(lab\) must be an Ed25519 public key/,
      ],
      [{ ...deployed, SERVICE_JWKS: 'not json' }, /SERVICE_JWKS is not JSON/],
      [{ ...deployed, SERVICE_PRIVATE_KEY: 'not a key' }, /SERVICE_PRIVATE_KEY is not a PEM private key/],
      [{ ...deployed, SERVICE_KEY_SEED: SECRET }, /set it or SERVICE_PRIVATE_KEY and SERVICE_JWKS, not both/],
      [
        { SERVICE_KEY_SEED: SECRET, NODE_ENV: 'production' },
        /SERVICE_KEY_SEED is refused under NODE_ENV=production/,
      ],
    ];
    for (const [env, problem] of cases) expect(() => buildServiceConfig(lab, [], env)).toThrow(problem);
  });

  it('caps heap growth at 30% past live data unless HEAP_GROWTH_PERCENT says otherwise (0: V8 decides)', () => {
    const lab = { name: 'lab', defaultPort: 3002 };
    expect(buildServiceConfig(lab, [], { SERVICE_KEY_SEED: SECRET }).env.HEAP_GROWTH_PERCENT).toBe(30);
    const off = { SERVICE_KEY_SEED: SECRET, HEAP_GROWTH_PERCENT: '0' };
    expect(buildServiceConfig(lab, [], off).env.HEAP_GROWTH_PERCENT).toBe(0);
    const wild = { SERVICE_KEY_SEED: SECRET, HEAP_GROWTH_PERCENT: '900' };
    expect(() => buildServiceConfig(lab, [], wild)).toThrow(/HEAP_GROWTH_PERCENT="900"/);
  });

  it('refuses a short SERVICE_KEY_SEED without echoing it', () => {
    const short = 'too-short-a-seed';
    const load = () => loadEnvironment(ServiceAuthEnvironment, { SERVICE_KEY_SEED: short });
    expect(load).toThrow(/SERVICE_KEY_SEED=\(hidden\): SERVICE_KEY_SEED must be at least 32 characters/);
    expect(load).not.toThrow(new RegExp(short));
  });

  it('reads MESSAGE_PRODUCERS as name=url pairs and refuses anything else', () => {
    const env = loadEnvironment(MessageServerEnvironment, {
      MESSAGE_PRODUCERS: 'ward-supply=http://supply:3042/, ward-orders=https://orders.local',
    });
    expect(messageProducerAddresses(env)).toEqual({
      'ward-supply': 'http://supply:3042',
      'ward-orders': 'https://orders.local',
    });
    expect(messageProducerAddresses(loadEnvironment(MessageServerEnvironment, {}))).toEqual({});
    expect(
      messageProducerAddresses(loadEnvironment(MessageServerEnvironment, { MESSAGE_PRODUCERS: ' ' })),
    ).toEqual({});
    for (const bad of ['supply=ftp://x', 'Supply=http://x', 'supply http://x', 'a=http://x,,b=http://y'])
      expect(() => loadEnvironment(MessageServerEnvironment, { MESSAGE_PRODUCERS: bad })).toThrow(
        /MESSAGE_PRODUCERS/,
      );
  });
});

describe('a configuration composed of the pieces a service uses', () => {
  const coordinatorLike = { name: 'records', defaultPort: 3001 };
  const messagingLike = { name: 'ward-stock', defaultPort: 3041 };
  const badBroker = { SERVICE_KEY_SEED: SECRET, AMQP_URL: 'http://not-a-broker' };

  it('lets a service without messaging boot whatever AMQP_URL holds, and fails one with messaging, naming AMQP_URL', () => {
    const records = buildServiceConfig(coordinatorLike, [TwoPhaseCommitEnvironment], badBroker);
    expect(records.env.TX_IN_DOUBT_AFTER_MS).toBe(15_000);
    expect(records.env).not.toHaveProperty('OUTBOX_BATCH_SIZE');

    const build = () => buildServiceConfig(messagingLike, [MessagingEnvironment], badBroker);
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(/AMQP_URL="http:\/\/not-a-broker": AMQP_URL must be a URL address/);
    expect(() =>
      buildServiceConfig(messagingLike, [MessagingEnvironment], { ...badBroker, AMQP_URL: undefined }),
    ).not.toThrow();
  });

  it('hands a library module its piece, and refuses at boot a module whose piece the service lacks', () => {
    const records = buildServiceConfig(coordinatorLike, [TwoPhaseCommitEnvironment], {
      SERVICE_KEY_SEED: SECRET,
    });
    expect(environmentOf(records, TwoPhaseCommitEnvironment).TX_VOTE_TIMEOUT_MS).toBe(5_000);
    // A piece extending another stands for it: two-phase commit includes the transaction settings.
    expect(environmentOf(records, TransactionsEnvironment).TX_RECOVERY_INTERVAL_MS).toBe(5_000);
    expect(() => environmentOf(records, MessagingEnvironment)).toThrow(ConfigError);
    expect(() => environmentOf(records, MessagingEnvironment)).toThrow(
      /service records uses a module that reads MessagingEnvironment/,
    );
    expect(() => environmentOf(records, MessageServerEnvironment)).toThrow(/MessageServerEnvironment/);
  });

  it('reports a variable two of its pieces share once', () => {
    const load = () =>
      loadEnvironment([TransactionsEnvironment, TwoPhaseCommitEnvironment], { TX_VOTE_TIMEOUT_MS: '1' });
    expect(load).toThrow(/^Invalid configuration:\n {2}TX_VOTE_TIMEOUT_MS="1": [^\n]+$/);
  });
});

describe('each piece validates its own variables, keeps its defaults, and ignores the others', () => {
  const cases: { piece: EnvironmentPiece; defaults: object; bad: Record<string, string> }[] = [
    {
      piece: DatabaseEnvironment,
      defaults: { PGHOST: '127.0.0.1', PGPORT: 5432, PGUSER: 'postgres', PG_POOL_SIZE: 20 },
      bad: { PG_POOL_SIZE: '501' },
    },
    {
      piece: MessagingEnvironment,
      defaults: {
        AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
        OUTBOX_RELAY: 'true',
        OUTBOX_BATCH_SIZE: 500,
        OUTBOX_POLL_MS: 1_000,
        OUTBOX_LINGER_MS: 0,
        CONSUMER_PREFETCH: 500,
        CONSUMER_MAX_ATTEMPTS: 5,
        INBOX_RETENTION_HOURS: 168,
      },
      bad: { OUTBOX_RELAY: 'yes' },
    },
    {
      piece: TransactionsEnvironment,
      defaults: { TX_VOTE_TIMEOUT_MS: 5_000, TX_RECOVERY_INTERVAL_MS: 5_000, TX_RETENTION_HOURS: 168 },
      bad: { TX_RETENTION_HOURS: '0' },
    },
    {
      piece: TwoPhaseCommitEnvironment,
      defaults: { TX_IN_DOUBT_AFTER_MS: 15_000, TX_VOTE_TIMEOUT_MS: 5_000 },
      bad: { TX_IN_DOUBT_AFTER_MS: '10' },
    },
    {
      piece: MessageServerEnvironment,
      defaults: { MESSAGE_CHECK_BACK_AFTER_MS: 10_000, MESSAGE_PRODUCERS: '' },
      bad: { MESSAGE_CHECK_BACK_AFTER_MS: 'soon' },
    },
  ];

  it.each(cases)('$piece.name', ({ piece, defaults, bad }) => {
    expect(loadEnvironment(piece, {})).toMatchObject(defaults);
    const [[variable, value]] = Object.entries(bad);
    expect(() => loadEnvironment(piece, bad)).toThrow(
      new RegExp(`^Invalid configuration:\\n  ${variable}="${value}": `),
    );
    // Another piece's invalid variable is not this piece's business.
    const others = { PGPORT: 'x', AMQP_URL: 'x', REDIS_URL: 'x', TX_VOTE_TIMEOUT_MS: 'x', LOG_LEVEL: 'x' };
    const foreign = Object.fromEntries(
      Object.entries(others).filter(([name]) => !(name in loadEnvironment(piece, {}))),
    );
    expect(() => loadEnvironment(piece, foreign)).not.toThrow();
  });
});
