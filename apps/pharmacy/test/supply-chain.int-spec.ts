import { randomBytes, randomUUID } from 'node:crypto';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { FhirExceptionFilter } from '@hospital/fhir';
import { createServiceApp, Database, DatabaseSettings, MigrationClass } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  DeadLetterView,
  HttpMessageServerClient,
  OutboundMessage,
  RabbitMqConnection,
  RabbitMqPublisher,
} from '@hospital/transactions';
import { PharmacyConfig, messageServerConfig, supplierConfig, supplyChainConfig } from '../src/config';
import {
  PHARMACY_EXCHANGE,
  PharmacyEvent,
  StockDeliveredPayload,
  StockLowPayload,
} from '../src/contracts/pharmacy-events';
import { migrations as messageServerMigrations } from '../src/message-server/database/migrations';
import { MessageServerModule } from '../src/message-server/message-server.module';
import { migrations as supplierMigrations } from '../src/supplier/database/migrations';
import { SUPPLIER_QUEUE, SupplierModule } from '../src/supplier/supplier.module';
import { migrations as supplyChainMigrations } from '../src/supply-chain/database/migrations';
import {
  purchaseOrderFor,
  purchaseOrderGtidFor,
  purchaseOrderIdFor,
  purchaseOrderPlacedMessage,
} from '../src/supply-chain/purchasing/purchase-order';
import { SUPPLY_CHAIN_QUEUES, SupplyChainModule } from '../src/supply-chain/supply-chain.module';
import { freePort } from '@hospital/platform/testing/waiting';
import { testServiceCredentials } from '@hospital/platform/testing/service-auth';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * The supply chain, the simulated supplier and the two-phase message server as real Nest apps over real
 * HTTP, each on its own fresh PostgreSQL database, talking through a real RabbitMQ (in a namespace of
 * their own). The test stands in for inventory: it publishes StockLow events and listens for
 * StockDelivered.
 */
jest.setTimeout(60_000);

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const SUPPLIER_DELAY_MS = 300;

/** Polls `probe` until `done` holds (a consumer or sweep the test cannot await directly). */
async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Part {
  url: string;
  app: INestApplication;
  db: Database;
}

async function count(db: Database, sql: string, parameters: unknown[] = []): Promise<number> {
  const [row] = await db.query<{ n: number }>(sql, parameters);
  return row?.n ?? 0;
}

describe('pharmacy supply chain: StockLow → purchase order (two-phase message) → delivery → StockDelivered', () => {
  const namespace = `test-${randomBytes(4).toString('hex')}`;
  const drops: (() => Promise<void>)[] = [];
  const parts: Part[] = [];
  let supplyChain: Part;
  let supplier: Part;
  let messages: Part;
  let connection: RabbitMqConnection;
  let inventory: RabbitMqPublisher;
  let listener: ChannelWrapper;
  const delivered: StockDeliveredPayload[] = [];
  let env: Record<string, string>;

  async function start(
    name: string,
    migrations: MigrationClass[],
    configure: (env: NodeJS.ProcessEnv) => PharmacyConfig,
    root: (config: PharmacyConfig) => DynamicModule,
    port: number,
    /** An existing part's database: the new app is a replica of that part. */
    replicaOf?: Part,
  ): Promise<Part> {
    let settings: DatabaseSettings;
    if (replicaOf === undefined) {
      const created = await createTestDatabase(name, migrations);
      drops.push(created.drop);
      settings = created.settings;
    } else settings = replicaOf.db.settings;
    const config = configure({ ...process.env, ...env, PORT: String(port), PGDATABASE: settings.database });
    const app = await createServiceApp(root(config), config, { filters: [new FhirExceptionFilter()] });
    await app.listen(port, '127.0.0.1');
    const part = { url: `http://127.0.0.1:${port}`, app, db: new Database(settings, `${name}-test`) };
    parts.push(part);
    return part;
  }

  beforeAll(async () => {
    const [supplyChainPort, supplierPort, messagesPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    env = {
      LOG_LEVEL: 'error',
      HOST: '127.0.0.1',
      AMQP_URL,
      MESSAGING_NAMESPACE: namespace,
      PHARMACY_MESSAGES_URL: `http://127.0.0.1:${messagesPort}`,
      MESSAGE_PRODUCERS: `pharmacy-supply-chain=http://127.0.0.1:${supplyChainPort}`,
      TX_RECOVERY_INTERVAL_MS: '200',
      MESSAGE_CHECK_BACK_AFTER_MS: '1000',
      OUTBOX_POLL_MS: '100',
      CONSUMER_MAX_ATTEMPTS: '3',
      SUPPLIER_DELAY_MS: String(SUPPLIER_DELAY_MS),
    };

    // Stands in for inventory: publishes StockLow, and collects StockDelivered from a queue of its own.
    connection = new RabbitMqConnection(AMQP_URL, 'supply-chain-int-spec', namespace);
    inventory = new RabbitMqPublisher(connection);
    const exchange = connection.name(PHARMACY_EXCHANGE);
    const queue = connection.name('test.inventory.stock-delivered');
    listener = connection.manager.createChannel({
      setup: async (channel: ConfirmChannel) => {
        await channel.assertExchange(exchange, 'topic', { durable: true });
        await channel.assertQueue(queue, { durable: false, autoDelete: true });
        await channel.bindQueue(queue, exchange, PharmacyEvent.StockDelivered.routingKey);
        await channel.consume(queue, (message: ConsumeMessage | null) => {
          if (message === null) return;
          delivered.push(JSON.parse(message.content.toString()) as StockDeliveredPayload);
          channel.ack(message);
        });
      },
    });
    await listener.waitForConnect();

    messages = await start(
      'pharmacy-messages',
      messageServerMigrations,
      messageServerConfig,
      (c) => MessageServerModule.forRoot(c),
      messagesPort,
    );
    supplier = await start(
      'pharmacy-supplier',
      supplierMigrations,
      supplierConfig,
      (c) => SupplierModule.forRoot(c),
      supplierPort,
    );
    supplyChain = await start(
      'pharmacy-supply-chain',
      supplyChainMigrations,
      supplyChainConfig,
      (c) => SupplyChainModule.forRoot(c),
      supplyChainPort,
    );
  }, 90_000);

  afterAll(async () => {
    for (const part of parts.reverse()) await part.app.close();
    await listener?.close();
    // The namespace's durable queues and exchange outlive the apps; the broker is shared, so remove them.
    await connection
      ?.withChannel(async (channel) => {
        for (const queue of [...Object.values(SUPPLY_CHAIN_QUEUES), SUPPLIER_QUEUE]) {
          await channel.deleteQueue(connection.name(queue));
          await channel.deleteQueue(connection.name(`${queue}.dead-letter`));
        }
        await channel.deleteExchange(connection.name(PHARMACY_EXCHANGE));
      })
      .catch(() => undefined);
    await connection?.close();
    for (const part of parts) await part.db.close();
    for (const drop of drops) await drop();
  });

  const stockLow = (reorderId: string, overrides: Partial<StockLowPayload> = {}): StockLowPayload => ({
    reorderId,
    medicationCode: '313782',
    locationId: 'ward-3a',
    onHand: 4,
    reorderPoint: 10,
    reorderQuantity: 120,
    ...overrides,
  });

  const publish = (id: string, payload: unknown): Promise<void> =>
    inventory.publish([
      {
        id,
        exchange: PHARMACY_EXCHANGE,
        routingKey: PharmacyEvent.StockLow.routingKey,
        type: PharmacyEvent.StockLow.type,
        source: 'pharmacy-inventory',
        gtid: id,
        payload,
      } satisfies OutboundMessage,
    ]);

  const fhir = async (url: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await fetch(url, { headers: { authorization: testAuthorizationFor(url) } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  /** Both sides of "no purchase order lost or sent twice", by SQL, for one reorder. */
  async function ledger(reorderId: string) {
    return {
      supplyChainOrders: await count(
        supplyChain.db,
        'SELECT count(*)::int AS n FROM supply_purchase_order WHERE reorder_id = $1',
        [reorderId],
      ),
      completed: await count(
        supplyChain.db,
        `SELECT count(*)::int AS n FROM supply_purchase_order WHERE reorder_id = $1 AND status = 'completed'`,
        [reorderId],
      ),
      supplierOrders: await count(
        supplier.db,
        'SELECT count(*)::int AS n FROM supplier_purchase_order WHERE reorder_id = $1',
        [reorderId],
      ),
      repeats: await count(
        supplier.db,
        'SELECT coalesce(sum(duplicate_receipts), 0)::int AS n FROM supplier_purchase_order WHERE reorder_id = $1',
        [reorderId],
      ),
      stockDelivered: delivered.filter((d) => d.reorderId === reorderId).length,
    };
  }

  it('turns one StockLow into exactly one purchase order at the supplier and one StockDelivered', async () => {
    const reorderId = `reorder-${randomUUID()}`;
    await publish(randomUUID(), stockLow(reorderId));

    await eventually(
      () => ledger(reorderId),
      (l) => l.stockDelivered === 1 && l.completed === 1,
    );
    expect(await ledger(reorderId)).toEqual({
      supplyChainOrders: 1,
      completed: 1,
      supplierOrders: 1,
      repeats: 0,
      stockDelivered: 1,
    });
    const [event] = delivered.filter((d) => d.reorderId === reorderId);
    const purchaseOrderId = purchaseOrderIdFor(reorderId);
    expect(event).toMatchObject({
      purchaseOrderId,
      medicationCode: '313782',
      locationId: 'ward-3a',
      quantity: 120,
    });

    // The supplier shipped no sooner than SUPPLIER_DELAY_MS after it booked the order.
    const [booked] = await supplier.db.query<{ waited_ms: number }>(
      `SELECT extract(epoch FROM shipped_at - received_at) * 1000 AS waited_ms
       FROM supplier_purchase_order WHERE purchase_order_id = $1`,
      [purchaseOrderId],
    );
    expect(Number(booked.waited_ms)).toBeGreaterThanOrEqual(SUPPLIER_DELAY_MS);

    // FHIR: the SupplyRequest is completed, and one SupplyDelivery is based on it.
    const request = await fhir(`${supplyChain.url}/fhir/SupplyRequest/${purchaseOrderId}`);
    expect(request.status).toBe(200);
    expect(request.body).toMatchObject({ resourceType: 'SupplyRequest', status: 'completed' });
    const search = await fhir(`${supplyChain.url}/fhir/SupplyDelivery?identifier=${event.deliveryId}`);
    expect(search.status).toBe(200);
    expect(search.body.entry).toHaveLength(1);

    // The two-phase message was delivered under the gtid derived from the reorder id.
    const gtid = purchaseOrderGtidFor(reorderId);
    const message = await fhir(`${messages.url}/api/message-transactions/${gtid}`);
    expect(message.body).toMatchObject({ state: 'delivered' });
  });

  it('places no second purchase order for a redelivered StockLow or the same reorder under a new message id', async () => {
    const reorderId = `reorder-${randomUUID()}`;
    const [first, second] = [randomUUID(), randomUUID()];
    await publish(first, stockLow(reorderId));
    await publish(first, stockLow(reorderId));
    await publish(second, stockLow(reorderId));

    await eventually(
      () =>
        count(
          supplyChain.db,
          `SELECT count(*)::int AS n FROM tx_inbox WHERE consumer = $1 AND message_id = ANY($2) AND outcome = 'applied'`,
          [SUPPLY_CHAIN_QUEUES.stockLow, [first, second]],
        ),
      (n) => n === 2,
    );
    await eventually(
      () => ledger(reorderId),
      (l) => l.stockDelivered >= 1 && l.completed === 1,
    );
    // Purchasing has nothing left to place, so nothing more can be sent for this reorder.
    expect(
      await count(supplyChain.db, `SELECT count(*)::int AS n FROM supply_reorder WHERE state = 'open'`),
    ).toBe(0);
    expect(await ledger(reorderId)).toEqual({
      supplyChainOrders: 1,
      completed: 1,
      supplierOrders: 1,
      repeats: 0,
      stockDelivered: 1,
    });
  });

  it('dead-letters a malformed StockLow with its reason and writes nothing', async () => {
    const id = randomUUID();
    const before = await count(supplyChain.db, 'SELECT count(*)::int AS n FROM supply_reorder');
    await publish(id, { reorderId: 'malformed', medicationCode: '313782', reorderQuantity: 'lots' });

    const [row] = await eventually(
      () =>
        supplyChain.db.query<{ outcome: string; reason: string }>(
          'SELECT outcome, reason FROM tx_inbox WHERE consumer = $1 AND message_id = $2',
          [SUPPLY_CHAIN_QUEUES.stockLow, id],
        ),
      (rows) => rows.length === 1,
    );
    expect(row.outcome).toBe('dead-lettered');
    expect(row.reason).toMatch(/invalid payload/);
    expect(row.reason).not.toContain('lots');
    expect(await count(supplyChain.db, 'SELECT count(*)::int AS n FROM supply_reorder')).toBe(before);
    expect(
      await count(
        supplyChain.db,
        `SELECT count(*)::int AS n FROM supply_reorder WHERE reorder_id = 'malformed'`,
      ),
    ).toBe(0);

    const deadLetters = await eventually(
      async () =>
        (await fhir(`${supplyChain.url}/api/messages/dead-letters/${SUPPLY_CHAIN_QUEUES.stockLow}`))
          .body as unknown as DeadLetterView[],
      (list) => Array.isArray(list) && list.some((d) => d.messageId === id),
    );
    expect(deadLetters.find((d) => d.messageId === id)?.reason).toMatch(/invalid payload/);
  });

  it('places a manual purchase order (POST /fhir/SupplyRequest) through the same two-phase message', async () => {
    const reorderId = `manual-${randomUUID()}`;
    const body = {
      resourceType: 'SupplyRequest',
      status: 'active',
      identifier: [{ system: 'urn:hospital:pharmacy:reorder', value: reorderId }],
      itemCodeableConcept: {
        coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361' }],
      },
      quantity: { value: 60 },
      deliverTo: { reference: 'Location/main-pharmacy' },
    };
    const post = (resource: unknown) =>
      fetch(`${supplyChain.url}/fhir/SupplyRequest`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json', authorization: testAuthorizationFor('/fhir') },
        body: JSON.stringify(resource),
      });

    const created = await post(body);
    expect(created.status).toBe(201);
    const stored = (await created.json()) as { id: string; status: string };
    expect(stored).toMatchObject({ id: purchaseOrderIdFor(reorderId), status: 'active' });

    // The same reorder again is refused, and places nothing.
    const again = await post(body);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');

    await eventually(
      () => ledger(reorderId),
      (l) => l.stockDelivered === 1 && l.completed === 1,
    );
    expect(await ledger(reorderId)).toMatchObject({ supplyChainOrders: 1, supplierOrders: 1, repeats: 0 });
  });

  it('refuses a manual purchase order without a delivery location with 400, writing nothing', async () => {
    const before = await count(supplyChain.db, 'SELECT count(*)::int AS n FROM supply_reorder');
    const response = await fetch(`${supplyChain.url}/fhir/SupplyRequest`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', authorization: testAuthorizationFor('/fhir') },
      body: JSON.stringify({
        resourceType: 'SupplyRequest',
        itemCodeableConcept: { coding: [{ code: '197361' }] },
        quantity: { value: 60 },
      }),
    });
    expect(response.status).toBe(400);
    const outcome = (await response.json()) as { resourceType: string; issue: { expression?: string[] }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].expression).toEqual(['SupplyRequest.deliverTo']);
    expect(await count(supplyChain.db, 'SELECT count(*)::int AS n FROM supply_reorder')).toBe(before);
  });

  /**
   * A purchaser that died right after preparing its message: the reorder is open, its gtid prepared at the
   * server, and no local transaction ran. `leaseHeld` keeps the dead purchaser's lease on the reorder.
   */
  async function diedAfterPrepare(reorderId: string, leaseHeld: boolean): Promise<string> {
    const order = purchaseOrderFor(
      { reorderId, origin: 'stock-low', medicationCode: '313782', locationId: 'ward-3b', quantity: 30 },
      0,
    );
    const { gtid, ...message } = purchaseOrderPlacedMessage(order);
    const state = await new HttpMessageServerClient(
      messages.url,
      'pharmacy-messages',
      testServiceCredentials('pharmacy-supply-chain'),
    ).prepare({ ...message, gtid, id: gtid, producer: 'pharmacy-supply-chain' });
    expect(state).toBe('prepared');
    await supplyChain.db.query(
      `INSERT INTO supply_reorder (reorder_id, origin, medication_code, location_id, quantity, state, attempts, lease_until)
       VALUES ($1, 'stock-low', '313782', 'ward-3b', 30, 'open', 1, CASE WHEN $2 THEN now() + interval '1 hour' END)`,
      [reorderId, leaseHeld],
    );
    return gtid;
  }

  const messageStates = (gtids: string[]) =>
    messages.db.query<{ gtid: string; state: string }>(
      'SELECT gtid, state FROM tx_message WHERE gtid = ANY($1) ORDER BY gtid',
      [gtids],
    );

  it('resumes a purchaser that died after prepare with the same gtid: one message, one order', async () => {
    const reorderId = `crashed-${randomUUID()}`;
    const gtid = await diedAfterPrepare(reorderId, false);

    await eventually(
      () => ledger(reorderId),
      (l) => l.stockDelivered === 1 && l.completed === 1,
    );
    const [order] = await supplyChain.db.query<{ gtid: string }>(
      'SELECT gtid FROM supply_purchase_order WHERE reorder_id = $1',
      [reorderId],
    );
    expect(order.gtid).toBe(gtid);
    expect(await messageStates([gtid])).toEqual([{ gtid, state: 'delivered' }]);
    expect(await ledger(reorderId)).toMatchObject({ supplyChainOrders: 1, supplierOrders: 1, repeats: 0 });
  });

  it("moves to the next gtid when the check-back aborted the dead purchaser's message first", async () => {
    const reorderId = `aborted-${randomUUID()}`;
    const first = await diedAfterPrepare(reorderId, true);
    // The server asks the supply chain back (MESSAGE_CHECK_BACK_AFTER_MS): no local commit → aborted for good.
    await eventually(
      () => messageStates([first]),
      (rows) => rows[0]?.state === 'aborted',
    );
    // The dead purchaser's lease runs out; the sweep takes the reorder over.
    await supplyChain.db.query('UPDATE supply_reorder SET lease_until = now() WHERE reorder_id = $1', [
      reorderId,
    ]);

    await eventually(
      () => ledger(reorderId),
      (l) => l.stockDelivered === 1 && l.completed === 1,
    );
    const second = purchaseOrderGtidFor(reorderId, 1);
    const [order] = await supplyChain.db.query<{ gtid: string }>(
      'SELECT gtid FROM supply_purchase_order WHERE reorder_id = $1',
      [reorderId],
    );
    expect(order.gtid).toBe(second);
    expect(await messageStates([first, second])).toEqual(
      [
        { gtid: first, state: 'aborted' },
        { gtid: second, state: 'delivered' },
      ].sort((a, b) => a.gtid.localeCompare(b.gtid)),
    );
    const barrier = await supplyChain.db.query<{ gtid: string; op: string }>(
      'SELECT gtid, op FROM tx_message_barrier WHERE gtid = ANY($1)',
      [[first, second]],
    );
    expect(Object.fromEntries(barrier.map((b) => [b.gtid, b.op]))).toEqual({
      [first]: 'rollback',
      [second]: 'commit',
    });
    expect(await ledger(reorderId)).toMatchObject({ supplyChainOrders: 1, supplierOrders: 1, repeats: 0 });
  });

  it('shares purchasing between two supply-chain replicas: each of many reorders is ordered once', async () => {
    await start(
      'pharmacy-supply-chain',
      supplyChainMigrations,
      supplyChainConfig,
      (c) => SupplyChainModule.forRoot(c),
      await freePort(),
      supplyChain,
    );
    const reorderIds = Array.from({ length: 20 }, (_, i) => `replicas-${i}-${randomUUID()}`);
    await Promise.all(reorderIds.map((id) => publish(randomUUID(), stockLow(id, { locationId: 'ward-7c' }))));

    await eventually(
      () => Promise.resolve(reorderIds.filter((id) => delivered.some((d) => d.reorderId === id)).length),
      (n) => n === reorderIds.length,
    );
    for (const id of reorderIds) {
      expect(await ledger(id)).toEqual({
        supplyChainOrders: 1,
        completed: 1,
        supplierOrders: 1,
        repeats: 0,
        stockDelivered: 1,
      });
    }
  });

  it('holds "no purchase order lost or sent twice" across every order of the run', async () => {
    // Every reorder has exactly one purchase order, and every purchase order reached the supplier once.
    const orders = await supplyChain.db.query<{ purchase_order_id: string }>(
      'SELECT purchase_order_id FROM supply_purchase_order',
    );
    expect(
      await count(
        supplyChain.db,
        `SELECT count(*)::int AS n FROM supply_reorder r
         WHERE (SELECT count(*) FROM supply_purchase_order p WHERE p.reorder_id = r.reorder_id) <> 1`,
      ),
    ).toBe(0);
    const atSupplier = await supplier.db.query<{ purchase_order_id: string; duplicate_receipts: number }>(
      'SELECT purchase_order_id, duplicate_receipts FROM supplier_purchase_order',
    );
    expect(atSupplier.map((o) => o.purchase_order_id).sort()).toEqual(
      orders.map((o) => o.purchase_order_id).sort(),
    );
    expect(atSupplier.every((o) => o.duplicate_receipts === 0)).toBe(true);
  });
});
