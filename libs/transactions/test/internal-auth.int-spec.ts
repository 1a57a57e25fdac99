import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { DynamicModule, INestApplication, Inject, Injectable, Module } from '@nestjs/common';
import { Database, seededServiceKeyring, ServiceConfig, Session, signServiceToken } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  testServiceAuthorization,
  testServiceCredentials,
  testServiceKeyring,
} from '@hospital/platform/testing/service-auth';
import { freePort } from '@hospital/platform/testing/waiting';
import {
  BRANCH_WORK,
  BranchWork,
  HttpMessageServerClient,
  MessageBarrierTable1763800000200,
  MessageServerRecovery,
  MessageServerTables1763800000100,
  MessageTraceContext1766600000200,
  MessageTransactionModule,
  MessageTransactionProducer,
  newGtid,
  PostgresTwoPhaseLog,
  transactionLogMigrations,
  TwoPhaseCommitModule,
  TwoPhaseCoordinator,
} from '@hospital/transactions';
import { RecordingPublisher } from '@hospital/transactions/testing';
import { publisherModule, startTestService, testServiceConfig } from './support/service-apps';

/**
 * Service-to-service authentication of every internal route, with real Nest apps over real HTTP on
 * fresh PostgreSQL databases: an EMR coordinating a LIS participant (two-phase commit), a two-phase
 * message server and its producer. Each refused request must leave every database as it was; a check-back
 * must go only to the producer's configured address, whatever a request or a stored row says.
 */
jest.setTimeout(60_000);

/** The LIS's business step: an order row in the branch's transaction. */
const orderBranch: BranchWork<Session> = async (tx, payload) => {
  const { id } = payload as { id: string };
  await tx.query('INSERT INTO orders (id) VALUES ($1)', [id]);
};

@Injectable()
class PurchaseOrders {
  constructor(
    @Inject(MessageTransactionProducer) private readonly producer: MessageTransactionProducer<Session>,
  ) {}
  place(gtid: string): Promise<string> {
    return this.producer.run(
      {
        gtid,
        exchange: 'pharmacy.events',
        routingKey: 'po',
        type: 'po.placed',
        aggregateId: gtid,
        payload: {},
      },
      async (session) => {
        await session.query('INSERT INTO orders (id) VALUES ($1)', [gtid]);
        return gtid;
      },
    );
  }
}

@Module({
  imports: [MessageTransactionModule.forFeature({ server: 'pharmacy-messages' })],
  providers: [PurchaseOrders],
})
class ProducerFeatureModule {}

/** A server that answers 200 to anything and remembers every request: where a forged check-back would go. */
class Trap {
  readonly requests: string[] = [];
  private server!: Server;
  url = '';
  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res) => {
      this.requests.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"outcome":"committed"}');
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Service {
  name: string;
  url: string;
  app: INestApplication;
  db: Database;
}

describe('internal routes: service tokens, POST for state changes, check-backs only where configured', () => {
  const drops: (() => Promise<void>)[] = [];
  const services: Service[] = [];
  const publisher = new RecordingPublisher();
  const trap = new Trap();
  let emr: Service;
  let lis: Service;
  let messages: Service;
  let producer: Service;

  async function start(
    name: string,
    port: number,
    migrations: Parameters<typeof createTestDatabase>[1],
    env: Record<string, string>,
    imports: (config: ServiceConfig) => DynamicModule['imports'],
  ): Promise<Service> {
    const { settings, drop } = await createTestDatabase(`auth-${name}`, migrations);
    drops.push(drop);
    const db = new Database(settings, 'auth-test');
    await db.query('CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY)');
    const config = testServiceConfig({
      name,
      port,
      database: settings.database,
      peers: { emr: env.EMR_URL, lis: env.LIS_URL, 'pharmacy-messages': env.PHARMACY_MESSAGES_URL },
      env: { ...env, TX_RECOVERY_INTERVAL_MS: '0', MESSAGE_CHECK_BACK_AFTER_MS: '50' },
    });
    const app = await startTestService(config, imports(config));
    const service = { name, url: `http://127.0.0.1:${port}`, app, db };
    services.push(service);
    return service;
  }

  beforeAll(async () => {
    await trap.start();
    const [emrPort, lisPort, messagesPort, producerPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const peers = {
      EMR_URL: `http://127.0.0.1:${emrPort}`,
      LIS_URL: `http://127.0.0.1:${lisPort}`,
      PHARMACY_MESSAGES_URL: `http://127.0.0.1:${messagesPort}`,
      // Only the producer is configured; `pacs` authenticates fine but has no check-back address.
      MESSAGE_PRODUCERS: `pharmacy-supply-chain=http://127.0.0.1:${producerPort}`,
    };
    const log = transactionLogMigrations;
    emr = await start('emr', emrPort, log, peers, () => [
      TwoPhaseCommitModule.forFeature({ participants: ['lis'] }),
    ]);
    lis = await start('lis', lisPort, log, peers, () => [
      TwoPhaseCommitModule.forFeature({ participant: true }, [
        { provide: BRANCH_WORK, useValue: orderBranch },
      ]),
    ]);
    messages = await start(
      'pharmacy-messages',
      messagesPort,
      [MessageServerTables1763800000100, MessageTraceContext1766600000200],
      peers,
      () => [publisherModule(publisher), MessageTransactionModule.forRoot()],
    );
    producer = await start(
      'pharmacy-supply-chain',
      producerPort,
      [MessageBarrierTable1763800000200],
      peers,
      () => [ProducerFeatureModule],
    );
  }, 90_000);

  afterAll(async () => {
    for (const service of services.reverse()) await service.app.close();
    for (const service of services) await service.db.close();
    await trap.stop();
    for (const drop of drops) await drop();
  });

  /** Every row of every table the internal routes write, and every prepared transaction, in all four databases. */
  async function snapshot(): Promise<Record<string, unknown[]>> {
    const tables: [Service, string][] = [
      [emr, 'tx_global'],
      [emr, 'orders'],
      [lis, 'tx_participant_branch'],
      [lis, 'orders'],
      [messages, 'tx_message'],
      [producer, 'tx_message_barrier'],
      [producer, 'orders'],
    ];
    const rows: Record<string, unknown[]> = {};
    for (const [service, table] of tables) {
      rows[`${service.name}.${table}`] = (
        await service.db.query<{ row: unknown }>(
          `SELECT to_jsonb(t) AS row FROM ${table} t ORDER BY to_jsonb(t)::text`,
        )
      ).map((r) => r.row);
    }
    for (const service of services) {
      rows[`${service.name}.prepared`] = (
        await service.db.query<{ gid: string }>(
          'SELECT gid FROM pg_prepared_xacts WHERE database = current_database() ORDER BY gid',
        )
      ).map((r) => r.gid);
    }
    return rows;
  }

  /** A prepare request's body: a message of `producer` under `gtid`. */
  const preparedBy = (producer: string, gtid: string) => ({
    id: gtid,
    producer,
    exchange: 'x',
    routingKey: 'po',
    type: 't',
    aggregateId: 'a',
    payload: {},
  });
  const now = () => Math.floor(Date.now() / 1000);
  const bearer = (token: string) => `Bearer ${token}`;
  /**
   * A token naming `caller` (kid, iss and sub) signed with the key of a service that is not the caller:
   * what a service holding only its own key could make to pass for another.
   */
  const impersonation = (caller: string, audience: string): string => {
    const impostor = caller === 'pacs' ? 'lis' : 'pacs';
    const { privateKey } = testServiceKeyring(impostor);
    return signServiceToken(
      { iss: caller, sub: caller, aud: audience, iat: now(), exp: now() + 60 },
      { name: caller, privateKey, publicKey: () => undefined },
    );
  };
  /** The four ways in that must be refused, for a route of `audience` that `caller` may use. */
  const refusals = (caller: string, audience: string): [string, string | undefined, number][] => [
    ['no token', undefined, 401],
    [
      'a token signed with another key',
      bearer(
        signServiceToken(
          { iss: caller, sub: caller, aud: audience, iat: now(), exp: now() + 60 },
          seededServiceKeyring('another-seed-that-is-long-enough-0123456789', caller),
        ),
      ),
      401,
    ],
    ['a token another service signed in the caller name', bearer(impersonation(caller, audience)), 401],
    [
      'an expired token',
      bearer(
        signServiceToken(
          { iss: caller, sub: caller, aud: audience, iat: now() - 600, exp: now() - 540 },
          testServiceKeyring(caller),
        ),
      ),
      401,
    ],
    ['a token for another service', testServiceAuthorization(caller, 'pacs'), 403],
    ['not a bearer token', `Basic ${Buffer.from('emr:secret').toString('base64')}`, 401],
  ];

  async function call(
    url: string,
    init: { method?: string; body?: unknown; authorization?: string } = {},
  ): Promise<{ status: number; body: Record<string, unknown>; text: string; headers: Headers }> {
    const response = await fetch(url, {
      method: init.method ?? 'POST',
      headers: {
        'content-type': 'application/json',
        ...(init.authorization === undefined ? {} : { authorization: init.authorization }),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await response.text();
    return { status: response.status, text, headers: response.headers, body: text ? JSON.parse(text) : {} };
  }

  it('refuses every internal route without a valid token for that service, and changes nothing', async () => {
    const gtid = newGtid();
    const message = {
      id: gtid,
      producer: 'pharmacy-supply-chain',
      exchange: 'pharmacy.events',
      routingKey: 'po',
      type: 'po.placed',
      aggregateId: 'po-1',
      payload: { quantity: 1 },
    };
    // Each request is valid as it stands: with the right token it would write (see the next test).
    const routes: [string, string, string, unknown][] = [
      ['emr', `${emr.url}/internal/2pc/${gtid}/outcome`, 'lis', {}],
      [
        'lis',
        `${lis.url}/internal/2pc/batch`,
        'emr',
        { coordinator: 'emr', ops: [{ op: 'prepare', gtid, payload: { id: gtid } }] },
      ],
      [
        'lis',
        `${lis.url}/internal/2pc/${gtid}/prepare`,
        'emr',
        { coordinator: 'emr', payload: { id: gtid } },
      ],
      ['lis', `${lis.url}/internal/2pc/${gtid}/commit`, 'emr', { coordinator: 'emr' }],
      ['lis', `${lis.url}/internal/2pc/${gtid}/abort`, 'emr', { coordinator: 'emr' }],
      [
        'pharmacy-messages',
        `${messages.url}/internal/message-transactions/${gtid}/prepare`,
        'pharmacy-supply-chain',
        message,
      ],
      [
        'pharmacy-messages',
        `${messages.url}/internal/message-transactions/${gtid}/submit`,
        'pharmacy-supply-chain',
        {},
      ],
      [
        'pharmacy-messages',
        `${messages.url}/internal/message-transactions/${gtid}/abort`,
        'pharmacy-supply-chain',
        {},
      ],
      [
        'pharmacy-supply-chain',
        `${producer.url}/internal/message-transactions/${gtid}/outcome`,
        'pharmacy-messages',
        {},
      ],
    ];
    const before = await snapshot();
    const seen: string[] = [];
    for (const [audience, url, caller, body] of routes) {
      for (const [what, authorization, status] of refusals(caller, audience)) {
        const answer = await call(url, { body, authorization });
        const route = new URL(url).pathname.replace(gtid, ':gtid');
        seen.push(`${route} ${what}`);
        expect({ route, what, status: answer.status }).toEqual({ route, what, status });
        expect(answer.body).toMatchObject({ statusCode: status, message: expect.stringMatching(/\w/) });
        expect(answer.text).not.toMatch(/ at .*\.(ts|js):\d+/);
        if (status === 401) expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
    }
    expect(seen).toHaveLength(routes.length * refusals('lis', 'emr').length);
    expect(await snapshot()).toEqual(before);
  });

  it('the same requests with the right token do write: the refusals above are not vacuous', async () => {
    const gtid = newGtid();
    const asked = await call(`${emr.url}/internal/2pc/${gtid}/outcome`, {
      body: {},
      authorization: testServiceAuthorization('lis', 'emr'),
    });
    expect(asked).toMatchObject({ status: 200, body: { decision: 'abort' } });
    expect(await emr.db.query('SELECT state FROM tx_global WHERE gtid = $1', [gtid])).toEqual([
      { state: 'aborted' },
    ]);

    const aborted = await call(`${lis.url}/internal/2pc/${gtid}/abort`, {
      body: { coordinator: 'emr' },
      authorization: testServiceAuthorization('emr', 'lis'),
    });
    expect(aborted).toMatchObject({ status: 200, body: { ack: 'aborted' } });

    const checkBack = await call(`${producer.url}/internal/message-transactions/${gtid}/outcome`, {
      body: {},
      authorization: testServiceAuthorization('pharmacy-messages', 'pharmacy-supply-chain'),
    });
    expect(checkBack).toMatchObject({ status: 200, body: { outcome: 'aborted' } });
    expect(await producer.db.query('SELECT op FROM tx_message_barrier WHERE gtid = $1', [gtid])).toEqual([
      { op: 'rollback' },
    ]);
  });

  it('answers a GET of the outcome inquiry with 404 and records no abort, even with a valid token', async () => {
    const gtid = newGtid();
    for (const authorization of [undefined, testServiceAuthorization('lis', 'emr')]) {
      const answer = await call(`${emr.url}/internal/2pc/${gtid}/outcome`, { method: 'GET', authorization });
      expect(answer.status).toBe(404);
    }
    const check = await call(`${producer.url}/internal/message-transactions/${gtid}/outcome`, {
      method: 'GET',
      authorization: testServiceAuthorization('pharmacy-messages', 'pharmacy-supply-chain'),
    });
    expect(check.status).toBe(404);
    expect(await emr.db.query('SELECT 1 FROM tx_global WHERE gtid = $1', [gtid])).toEqual([]);
    expect(await producer.db.query('SELECT 1 FROM tx_message_barrier WHERE gtid = $1', [gtid])).toEqual([]);
  });

  it('lets an authenticated service act only as itself, with 403 and nothing written', async () => {
    const gtid = newGtid();
    const before = await snapshot();
    const cases: [string, string, unknown, string][] = [
      // pacs holds a valid token for the LIS but is not the coordinator it names.
      [
        `${lis.url}/internal/2pc/batch`,
        testServiceAuthorization('pacs', 'lis'),
        { coordinator: 'emr', ops: [{ op: 'prepare', gtid, payload: { id: gtid } }] },
        'pacs may not act for coordinator emr',
      ],
      [
        `${lis.url}/internal/2pc/${gtid}/abort`,
        testServiceAuthorization('pacs', 'lis'),
        { coordinator: 'emr' },
        'pacs may not act for coordinator emr',
      ],
      // A producer prepares only under its own name, and only with a configured check-back address.
      [
        `${messages.url}/internal/message-transactions/${gtid}/prepare`,
        testServiceAuthorization('pacs', 'pharmacy-messages'),
        preparedBy('pharmacy-supply-chain', gtid),
        'pacs may not prepare messages for producer pharmacy-supply-chain',
      ],
      [
        `${messages.url}/internal/message-transactions/${gtid}/prepare`,
        testServiceAuthorization('pacs', 'pharmacy-messages'),
        preparedBy('pacs', gtid),
        "producer pacs has no check-back address in this server's configuration (MESSAGE_PRODUCERS)",
      ],
      // Only the producer's message server may ask it back.
      [
        `${producer.url}/internal/message-transactions/${gtid}/outcome`,
        testServiceAuthorization('pacs', 'pharmacy-supply-chain'),
        {},
        "pacs is not this producer's message server",
      ],
    ];
    for (const [url, authorization, body, reason] of cases) {
      const answer = await call(url, { body, authorization });
      expect({ url, status: answer.status, message: answer.body.message }).toEqual({
        url,
        status: 403,
        message: reason,
      });
    }
    expect(await snapshot()).toEqual(before);
  });

  it('answers an outcome inquiry only to a participant of the transaction: no other service records its abort', async () => {
    const gtid = newGtid();
    await new PostgresTwoPhaseLog(emr.db).begin(gtid, ['lis']);
    const state = async () =>
      (await emr.db.query<{ state: string }>('SELECT state FROM tx_global WHERE gtid = $1', [gtid]))[0]
        ?.state;
    const byPacs = await call(`${emr.url}/internal/2pc/${gtid}/outcome`, {
      body: {},
      authorization: testServiceAuthorization('pacs', 'emr'),
    });
    expect({ status: byPacs.status, message: byPacs.body.message }).toEqual({
      status: 403,
      message: `pacs takes no part in global transaction ${gtid}`,
    });
    expect(await state()).toBe('preparing');
    const byLis = await call(`${emr.url}/internal/2pc/${gtid}/outcome`, {
      body: {},
      authorization: testServiceAuthorization('lis', 'emr'),
    });
    expect(byLis).toMatchObject({ status: 200, body: { decision: 'abort' } });
    // ABORT recorded; recovery tells the branches (here, the LIS's) to roll back.
    expect(await state()).toBe('aborting');
  });

  it('lets only the producer of a message submit or abort it', async () => {
    const gtid = newGtid();
    const client = new HttpMessageServerClient(
      messages.url,
      'pharmacy-messages',
      testServiceCredentials('pharmacy-supply-chain'),
    );
    await expect(client.prepare({ gtid, ...preparedBy('pharmacy-supply-chain', gtid) })).resolves.toBe(
      'prepared',
    );
    for (const op of ['submit', 'abort']) {
      const answer = await call(`${messages.url}/internal/message-transactions/${gtid}/${op}`, {
        body: {},
        authorization: testServiceAuthorization('emr', 'pharmacy-messages'),
      });
      expect({ op, status: answer.status }).toEqual({ op, status: 403 });
    }
    expect(await messages.db.query('SELECT state FROM tx_message WHERE gtid = $1', [gtid])).toEqual([
      { state: 'prepared' },
    ]);
    await expect(client.abort(gtid)).resolves.toBe('aborted');
  });

  it('refuses a check-back address in a prepare request, and calls back only the configured producer', async () => {
    const gtid = newGtid();
    const before = await snapshot();
    const forged = await call(`${messages.url}/internal/message-transactions/${gtid}/prepare`, {
      authorization: testServiceAuthorization('pharmacy-supply-chain', 'pharmacy-messages'),
      body: { ...preparedBy('pharmacy-supply-chain', gtid), checkBackUrl: trap.url },
    });
    expect(forged.status).toBe(400);
    expect(JSON.stringify(forged.body.message)).toMatch(/checkBackUrl/);
    expect(await snapshot()).toEqual(before);

    // A row that names another address (as one written before addresses came from configuration would):
    // the check-back still goes to the configured producer, which settles it as never committed.
    await messages.db.query(
      `INSERT INTO tx_message (gtid, message_id, producer, check_back_url, exchange, routing_key, type,
                               aggregate_id, payload, state, next_check_at)
       VALUES ($1, $1, 'pharmacy-supply-chain', $2, 'x', 'po', 't', 'a', '{}', 'prepared', now() - interval '1 second')`,
      [gtid, trap.url],
    );
    await messages.app.get(MessageServerRecovery, { strict: false }).runOnce();
    expect(await messages.db.query('SELECT state FROM tx_message WHERE gtid = $1', [gtid])).toEqual([
      { state: 'aborted' },
    ]);
    expect(await producer.db.query('SELECT op FROM tx_message_barrier WHERE gtid = $1', [gtid])).toEqual([
      { op: 'rollback' },
    ]);
    expect(trap.requests).toEqual([]);
    expect(publisher.published.some((m) => m.gtid === gtid)).toBe(false);
  });

  it('the services reach each other with their tokens: a 2PC transaction commits, a two-phase message is delivered', async () => {
    const gtid = newGtid();
    const coordinator = emr.app.get<TwoPhaseCoordinator<Session>>(TwoPhaseCoordinator, { strict: false });
    await expect(
      coordinator.execute({
        gtid,
        branches: [{ participant: 'lis', payload: { id: gtid } }],
        local: async (tx) => void (await tx.query('INSERT INTO orders (id) VALUES ($1)', [gtid])),
      }),
    ).resolves.toMatchObject({ outcome: 'committed' });
    expect(await lis.db.query('SELECT id FROM orders WHERE id = $1', [gtid])).toEqual([{ id: gtid }]);
    expect(await emr.db.query('SELECT state FROM tx_global WHERE gtid = $1', [gtid])).toEqual([
      { state: 'committed' },
    ]);

    const po = newGtid();
    await expect(producer.app.get(PurchaseOrders, { strict: false }).place(po)).resolves.toBe(po);
    expect(
      await messages.db.query('SELECT state, check_back_url FROM tx_message WHERE gtid = $1', [po]),
    ).toEqual([{ state: 'delivered', check_back_url: producer.url }]);
    expect(publisher.published.filter((m) => m.gtid === po)).toHaveLength(1);
  });
});
