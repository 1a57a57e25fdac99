import { randomBytes } from 'node:crypto';
import { INestApplication, Inject, Injectable, Module } from '@nestjs/common';
import { BaseEnvironment, buildServiceConfig, Database, ServiceConfig, Session } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  BarrierConflictError,
  HttpMessageServerClient,
  MessageAbortedError,
  MessageBarrierTable1763800000200,
  MessagePublisher,
  MessageServerRecovery,
  MessageServerTables1763800000100,
  MessageTraceContext1766600000200,
  MessageTransactionModule,
  MessageTransactionProducer,
  OutboundMessage,
  PostgresMessageBarrierStore,
  ProducedMessage,
  RabbitMqConnection,
  RabbitMqPublisher,
  TwoPhaseMessage,
} from '@hospital/transactions';
import { connect, Channel, ChannelModel } from 'amqplib';
import { freePort } from '@hospital/platform/testing/waiting';
import { testServiceAuthorization, testServiceCredentials } from '@hospital/platform/testing/service-auth';
import { publisherModule, startTestService, testServiceConfig } from './support/service-apps';

/**
 * Two-phase messages end to end: a message server app and a producer app, each a Nest app over HTTP on
 * its own fresh PostgreSQL database, the server publishing to the real RabbitMQ through `RabbitMqPublisher`
 * (publisher confirms) under a namespace of its own, with a queue bound to read back what reached the
 * broker.
 */
jest.setTimeout(30_000);

const EXCHANGE = 'pharmacy.events';
const NAMESPACE = `mt-int-${randomBytes(4).toString('hex')}`;

/** The real publisher, counting what the broker confirmed; `failAfterConfirm` loses the next confirm's reply. */
class CountingPublisher implements MessagePublisher {
  readonly confirmed: OutboundMessage[] = [];
  failAfterConfirm = 0;
  constructor(private readonly inner: MessagePublisher) {}

  async publish(messages: readonly OutboundMessage[]): Promise<void> {
    await this.inner.publish(messages);
    this.confirmed.push(...messages);
    if (this.failAfterConfirm > 0) {
      this.failAfterConfirm -= 1;
      throw new Error('server lost the broker confirm');
    }
  }
}

/** The producer's business: a purchase order row written in the message's local transaction. */
@Injectable()
class PurchaseOrders {
  constructor(
    @Inject(MessageTransactionProducer) private readonly producer: MessageTransactionProducer<Session>,
  ) {}

  place(message: TwoPhaseMessage, fail?: string): Promise<string> {
    return this.producer.run(message, async (session) => {
      await session.query('INSERT INTO purchase_orders (id) VALUES ($1)', [message.gtid]);
      if (fail) throw new Error(fail);
      return message.gtid;
    });
  }
}

@Module({
  imports: [MessageTransactionModule.forFeature({ server: 'pharmacy-messages' })],
  providers: [PurchaseOrders],
})
class ProducerFeatureModule {}

function config(
  name: string,
  port: number,
  database: string,
  serverUrl: string,
  producers = '',
): ServiceConfig {
  return testServiceConfig({
    name,
    port,
    database,
    peers: { 'pharmacy-messages': serverUrl },
    env: {
      TX_RECOVERY_INTERVAL_MS: '0',
      MESSAGE_CHECK_BACK_AFTER_MS: '50',
      PHARMACY_MESSAGES_URL: serverUrl,
      MESSAGE_PRODUCERS: producers,
    },
  });
}

/** The producer's client of the server, as the producer `supply-chain` authenticates. */
const serverClient = (serverUrl: string) =>
  new HttpMessageServerClient(serverUrl, 'pharmacy-messages', testServiceCredentials('supply-chain'));

describe('two-phase messages over HTTP, PostgreSQL and RabbitMQ', () => {
  const drops: (() => Promise<void>)[] = [];
  let serverApp: INestApplication;
  let producerApp: INestApplication;
  let serverDb: Database;
  let producerDb: Database;
  let serverUrl: string;
  let producerUrl: string;
  let publisher: CountingPublisher;
  let connection: RabbitMqConnection;
  let amqp: ChannelModel;
  let channel: Channel;
  let queue: string;
  let seq = 0;

  beforeAll(async () => {
    const server = await createTestDatabase('txmsg-server', [
      MessageServerTables1763800000100,
      MessageTraceContext1766600000200,
    ]);
    const producer = await createTestDatabase('txmsg-producer', [MessageBarrierTable1763800000200]);
    drops.push(server.drop, producer.drop);
    serverDb = new Database(server.settings, 'txmsg-test');
    producerDb = new Database(producer.settings, 'txmsg-test');
    await producerDb.query('CREATE TABLE purchase_orders (id text PRIMARY KEY)');

    const [serverPort, producerPort] = [await freePort(), await freePort()];
    serverUrl = `http://127.0.0.1:${serverPort}`;
    producerUrl = `http://127.0.0.1:${producerPort}`;

    const env = loadAmqpUrl();
    amqp = await connect(env);
    channel = await amqp.createChannel();
    await channel.assertExchange(`${NAMESPACE}.${EXCHANGE}`, 'topic', { durable: true });
    ({ queue } = await channel.assertQueue('', { exclusive: true }));
    await channel.bindQueue(queue, `${NAMESPACE}.${EXCHANGE}`, '#');
    connection = new RabbitMqConnection(env, 'txmsg-test', NAMESPACE);
    publisher = new CountingPublisher(new RabbitMqPublisher(connection));

    // `dispensing` is a second producer (with an address nobody listens on) for the ownership cases.
    const serverConfig = config(
      'pharmacy-messages',
      serverPort,
      server.settings.database,
      serverUrl,
      `supply-chain=${producerUrl},dispensing=http://127.0.0.1:9`,
    );
    serverApp = await startTestService(serverConfig, [
      publisherModule(publisher),
      MessageTransactionModule.forRoot(),
    ]);
    const producerConfig = config('supply-chain', producerPort, producer.settings.database, serverUrl);
    producerApp = await startTestService(producerConfig, [ProducerFeatureModule]);
  }, 60_000);

  afterAll(async () => {
    await producerApp?.close();
    await serverApp?.close();
    await connection?.close();
    await amqp?.close();
    await serverDb?.close();
    await producerDb?.close();
    for (const drop of drops) await drop();
  });

  function loadAmqpUrl(): string {
    return buildServiceConfig({ name: 'txmsg-test', defaultPort: 0 }, BaseEnvironment).env.AMQP_URL;
  }

  const order = (): TwoPhaseMessage => {
    seq += 1;
    const gtid = `int-po-${seq}-${randomBytes(3).toString('hex')}`;
    return {
      gtid,
      exchange: EXCHANGE,
      routingKey: 'supply-chain.purchase-order-placed',
      type: 'pharmacy.purchase-order-placed',
      aggregateId: `po-${seq}`,
      payload: { purchaseOrderId: gtid, quantity: 12 },
    };
  };
  const prepared = (message: TwoPhaseMessage): ProducedMessage => ({
    ...message,
    id: message.gtid,
    producer: 'supply-chain',
  });
  const orders = () => producerApp.get(PurchaseOrders, { strict: false });
  const sweep = () => serverApp.get(MessageServerRecovery, { strict: false }).runOnce();
  const stateOf = async (gtid: string) =>
    (await serverDb.query<{ state: string }>('SELECT state FROM tx_message WHERE gtid = $1', [gtid]))[0]
      ?.state;
  const orderRows = async (gtid: string) =>
    (await producerDb.query('SELECT 1 FROM purchase_orders WHERE id = $1', [gtid])).length;
  /** Makes a prepared message due for check-back (or a submitted one due for re-publish) now. */
  const makeDue = (gtid: string) =>
    serverDb.query(`UPDATE tx_message SET next_check_at = now() - interval '1 second' WHERE gtid = $1`, [
      gtid,
    ]);

  /** Every message on the bound queue so far, by message id. */
  const drained = new Map<string, number>();
  async function onBroker(id: string): Promise<number> {
    for (;;) {
      const got = await channel.get(queue, { noAck: true });
      if (got === false) break;
      const messageId = String(got.properties.messageId);
      drained.set(messageId, (drained.get(messageId) ?? 0) + 1);
    }
    return drained.get(id) ?? 0;
  }

  /** A request to the server; to an internal route as the producer `as` (supply-chain by default). */
  const http = async (path: string, init: { method?: string; body?: string; as?: string } = {}) => {
    const response = await fetch(`${serverUrl}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        'content-type': 'application/json',
        authorization: testServiceAuthorization(init.as ?? 'supply-chain', 'pharmacy-messages'),
      },
      body: init.body,
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };

  it('delivers the message with the local transaction, once, with the gtid as message id', async () => {
    const message = order();
    await expect(orders().place(message)).resolves.toBe(message.gtid);
    expect(await orderRows(message.gtid)).toBe(1);
    expect(await stateOf(message.gtid)).toBe('delivered');
    expect(publisher.confirmed.filter((m) => m.id === message.gtid)).toEqual([
      {
        id: message.gtid,
        exchange: EXCHANGE,
        routingKey: message.routingKey,
        type: message.type,
        source: 'supply-chain',
        gtid: message.gtid,
        payload: message.payload,
        aggregateId: message.aggregateId,
        // The trace of the producer's prepare call (its client span), published with the message.
        traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/) as unknown,
      },
    ]);
    expect(await onBroker(message.gtid)).toBe(1);

    const listed = await http('/api/message-transactions?producer=supply-chain&state=delivered');
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual(
      expect.arrayContaining([expect.objectContaining({ gtid: message.gtid, state: 'delivered' })]),
    );
    const one = await http(`/api/message-transactions/${message.gtid}`);
    expect(one.body).toMatchObject({ gtid: message.gtid, state: 'delivered', payload: message.payload });
  });

  it('never delivers when the local transaction fails, and leaves no order behind', async () => {
    const message = order();
    await expect(orders().place(message, 'supplier refused')).rejects.toThrow('supplier refused');
    expect(await orderRows(message.gtid)).toBe(0);
    expect(await stateOf(message.gtid)).toBe('aborted');
    await makeDue(message.gtid);
    await sweep();
    expect(publisher.confirmed.some((m) => m.id === message.gtid)).toBe(false);
    expect(await onBroker(message.gtid)).toBe(0);
  });

  it('a producer that died after prepare is checked back over HTTP: aborted, and its late transaction is refused', async () => {
    const message = order();
    const client = serverClient(serverUrl);
    await expect(client.prepare(prepared(message))).resolves.toBe('prepared');
    await makeDue(message.gtid);
    await sweep();
    expect(await stateOf(message.gtid)).toBe('aborted');

    const barrier = new PostgresMessageBarrierStore(producerDb);
    const late = barrier.runCommitted(message.gtid, (session) =>
      session.query('INSERT INTO purchase_orders (id) VALUES ($1)', [message.gtid]),
    );
    await expect(late).rejects.toThrow(BarrierConflictError);
    expect(await orderRows(message.gtid)).toBe(0);
    // A retried run of the same gtid is told the message was aborted.
    await expect(orders().place(message)).rejects.toThrow(MessageAbortedError);
    expect(await onBroker(message.gtid)).toBe(0);
  });

  it('a producer that died after its local commit is checked back: committed, published exactly once', async () => {
    const message = order();
    const client = serverClient(serverUrl);
    await client.prepare(prepared(message));
    await new PostgresMessageBarrierStore(producerDb).runCommitted(message.gtid, (session) =>
      session.query('INSERT INTO purchase_orders (id) VALUES ($1)', [message.gtid]),
    );
    expect(await stateOf(message.gtid)).toBe('prepared');
    await makeDue(message.gtid);
    await sweep();
    expect(await stateOf(message.gtid)).toBe('delivered');
    await sweep();
    await expect(client.submit(message.gtid)).resolves.toBe('delivered');
    expect(publisher.confirmed.filter((m) => m.id === message.gtid)).toHaveLength(1);
    expect(await onBroker(message.gtid)).toBe(1);
  });

  it('a check-back that arrives while the local transaction runs waits on its barrier row, then says committed', async () => {
    const message = order();
    const barrier = new PostgresMessageBarrierStore(producerDb);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const local = barrier.runCommitted(message.gtid, async (session) => {
      // The barrier row is inserted (uncommitted) before the work runs.
      entered();
      await session.query('INSERT INTO purchase_orders (id) VALUES ($1)', [message.gtid]);
      await gate;
    });
    await inside;
    const checkBack = fetch(`${producerUrl}/internal/message-transactions/${message.gtid}/outcome`, {
      method: 'POST',
      headers: { authorization: testServiceAuthorization('pharmacy-messages', 'supply-chain') },
    });
    // The check-back's barrier insert is blocked on the local transaction's row lock.
    for (;;) {
      const waiting = await producerDb.query(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO tx_message_barrier%'`,
      );
      if (waiting.length > 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    release();
    await local;
    expect(await (await checkBack).json()).toEqual({ outcome: 'committed' });
  });

  it('re-publishes with the same message id when the broker confirm is lost before the delivered mark', async () => {
    const message = order();
    publisher.failAfterConfirm = 1;
    await expect(orders().place(message)).resolves.toBe(message.gtid);
    expect(await stateOf(message.gtid)).toBe('submitted');
    await makeDue(message.gtid);
    await sweep();
    expect(await stateOf(message.gtid)).toBe('delivered');
    expect(publisher.confirmed.filter((m) => m.id === message.gtid)).toHaveLength(2);
    // At least once: the broker holds both copies, and consumers de-duplicate on the id.
    expect(await onBroker(message.gtid)).toBe(2);
  });

  it('answers repeated prepare, submit and abort idempotently, and unknown gtids with 404', async () => {
    const message = order();
    const { gtid, ...rest } = prepared(message);
    const body = JSON.stringify(rest);
    const path = `/internal/message-transactions/${gtid}`;
    expect(await http(`${path}/prepare`, { body })).toEqual({ status: 200, body: { state: 'prepared' } });
    expect(await http(`${path}/prepare`, { body })).toEqual({ status: 200, body: { state: 'prepared' } });
    expect(await http(`${path}/abort`, { body: '{}' })).toEqual({ status: 200, body: { state: 'aborted' } });
    expect(await http(`${path}/abort`, { body: '{}' })).toEqual({ status: 200, body: { state: 'aborted' } });
    expect(await http(`${path}/submit`, { body: '{}' })).toEqual({ status: 200, body: { state: 'aborted' } });
    expect(await http(`${path}/prepare`, { body })).toEqual({ status: 200, body: { state: 'aborted' } });
    expect((await http('/internal/message-transactions/never-seen/submit', { body: '{}' })).status).toBe(404);
    expect((await http('/api/message-transactions/never-seen')).status).toBe(404);
    const stolen = JSON.stringify({ ...rest, producer: 'dispensing' });
    expect((await http(`${path}/prepare`, { body: stolen, as: 'dispensing' })).status).toBe(409);
    expect(await onBroker(gtid)).toBe(0);
  });

  it('refuses malformed requests with 400 and writes nothing', async () => {
    const [before] = await serverDb.query<{ n: number }>('SELECT count(*)::int AS n FROM tx_message');
    const valid = { ...prepared(order()), gtid: undefined };
    const cases: [string, unknown][] = [
      ['no body fields', {}],
      ['a checkBackUrl (the server has its own)', { ...valid, checkBackUrl: 'http://127.0.0.1:1' }],
      ['checkBackUrl of another scheme', { ...valid, checkBackUrl: 'file:///etc/passwd' }],
      ['producer not a service name', { ...valid, producer: 'Supply Chain' }],
      ['payload null', { ...valid, payload: null }],
      ['exchange with spaces', { ...valid, exchange: 'pharmacy events' }],
      ['an unknown field', { ...valid, priority: 'high' }],
      ['an array body', [valid]],
    ];
    for (const [what, body] of cases) {
      const answer = await http('/internal/message-transactions/bad-input-1/prepare', {
        body: JSON.stringify(body),
      });
      expect({ what, status: answer.status }).toEqual({ what, status: 400 });
      expect(JSON.stringify(answer.body.message)).toMatch(/\w/);
    }
    const badGtid = await http('/internal/message-transactions/bad%20gtid/prepare', {
      body: JSON.stringify(valid),
    });
    expect(badGtid.status).toBe(400);
    expect(badGtid.body.message).toMatch(/gtid must be/);
    expect((await http('/api/message-transactions?limit=0')).status).toBe(400);
    expect((await http('/api/message-transactions?state=lost')).status).toBe(400);
    expect((await http('/api/message-transactions?before=yesterday')).status).toBe(400);
    const badCheckBack = await fetch(`${producerUrl}/internal/message-transactions/bad%20gtid/outcome`, {
      method: 'POST',
      headers: { authorization: testServiceAuthorization('pharmacy-messages', 'supply-chain') },
    });
    expect(badCheckBack.status).toBe(400);
    const [after] = await serverDb.query<{ n: number }>('SELECT count(*)::int AS n FROM tx_message');
    expect(after).toEqual(before);
  });
});
