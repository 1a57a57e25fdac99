import { randomBytes, randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { FhirExceptionFilter } from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  QUOTA_COMPLETED_TYPE,
  QUOTA_COMPLETIONS_EXCHANGE,
  quotaCompletedRoutingKey,
  RabbitMqConnection,
  RabbitMqPublisher,
} from '@hospital/transactions';
import { capacityAccountingViolations } from '@hospital/transactions/testing/capacity-accounting';
import { pacsConfig } from '../src/config';
import { migrations } from '../src/database/migrations';
import { PacsModule } from '../src/pacs.module';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * The PACS as a quota-cached saga participant, over real HTTP, Redis and RabbitMQ: imaging capacity lent to
 * the quota cache and reserved, held and released there with no main-database row taken; a completion event
 * on RabbitMQ — delivered twice, once under another message id — applying the reservation once and the
 * sweeper settling it out of the cache; bad requests answered 4xx with nothing reserved.
 */
jest.setTimeout(60_000);

describe('pacs imaging capacity in the quota cache', () => {
  let app: INestApplication;
  let db: Database;
  let drop: () => Promise<void>;
  let redis: Redis;
  let connection: RabbitMqConnection;
  let publisher: RabbitMqPublisher;
  const port = 3702;
  const base = `http://127.0.0.1:${port}`;
  const namespace = `pq${randomBytes(4).toString('hex')}`;
  const prefix = `test:${namespace}:quota:`;
  const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

  beforeAll(async () => {
    const created = await createTestDatabase('pacs', migrations);
    drop = created.drop;
    db = new Database(created.settings, 'pacs-quota-test');
    const config = pacsConfig({
      ...process.env,
      PGDATABASE: created.settings.database,
      PORT: String(port),
      LOG_LEVEL: 'error',
      MESSAGING_NAMESPACE: namespace,
      QUOTA_KEY_PREFIX: prefix,
      QUOTA_SWEEP_MS: '100',
      QUOTA_LEND_CHUNK: '4',
    });
    app = await createServiceApp(PacsModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await app.listen(port, '127.0.0.1');
    redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    connection = new RabbitMqConnection(amqpUrl, 'pacs-quota-test', namespace);
    publisher = new RabbitMqPublisher(connection);
  });

  afterAll(async () => {
    await app?.close();
    // The run's queues go with it: quorum queues left behind would pile up in the broker.
    await connection
      ?.withChannel(async (channel) => {
        await channel.deleteQueue(`${namespace}.pacs.quota-completions`);
        await channel.deleteQueue(`${namespace}.pacs.quota-completions.dead-letter`);
      })
      .catch(() => undefined);
    await connection?.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis?.disconnect();
    await db?.close();
    await drop?.();
  });

  afterEach(async () => {
    expect(await capacityAccountingViolations(db)).toEqual([]);
  });

  async function call(method: string, path: string, body?: unknown) {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: testAuthorizationFor(path),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
    };
  }
  const quota = (route: string, body: unknown) => call('POST', `/api/capacity/quota/${route}`, body);
  const level = async (resource: string) =>
    (await call('GET', `/api/capacity/resources/${resource}`)).body as Record<string, number>;
  const register = async (day: string, capacity: number) => {
    const resource = `imaging:CT:${day}`;
    expect((await call('PUT', `/api/capacity/resources/${resource}`, { capacity })).status).toBe(201);
    return resource;
  };
  const waitFor = async (what: () => Promise<boolean>) => {
    const deadline = Date.now() + 10_000;
    while (!(await what())) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it('reserves, holds and releases in the cache without taking anything in the main database', async () => {
    const resource = await register('2027-03-01', 10);
    const gtid = randomUUID();
    const reserved = await quota('reserve', { key: `${gtid}:imaging`, gtid, resource, units: 3 });
    expect(reserved).toMatchObject({ status: 200, body: { state: 'reserved', units: 3 } });
    expect(await level(resource)).toMatchObject({ taken: 0, held: 0, lent: 4, available: 6 });
    expect(await quota('hold', { key: `${gtid}:imaging`, resource })).toMatchObject({
      body: { state: 'held' },
    });
    const other = randomUUID();
    await quota('reserve', { key: `${other}:imaging`, gtid: other, resource, units: 1 });
    expect(await quota('release', { key: `${other}:imaging`, resource })).toMatchObject({
      status: 200,
      body: { state: 'released', returned: 1 },
    });
    expect(
      await quota('reserve', { key: `${other}:imaging`, gtid: other, resource, units: 1 }),
    ).toMatchObject({
      status: 409,
      body: { code: 'claim-released' },
    });
    expect(await quota('hold', { key: `${other}:imaging`, resource })).toMatchObject({ status: 409 });
    const cache = (await call('GET', `/api/capacity/quota/resources/${resource}`)).body;
    expect(cache).toMatchObject({ cache: { available: 1, lent: 4, reservations: 1 } });
  });

  it('applies a completion event once, however often it is delivered, and settles it out of the cache', async () => {
    const resource = await register('2027-03-02', 10);
    const gtid = randomUUID();
    const key = `${gtid}:imaging`;
    const { body } = await quota('reserve', { key, gtid, resource, units: 2 });
    await quota('hold', { key, resource });
    const event = (id: string) => ({
      id,
      exchange: QUOTA_COMPLETIONS_EXCHANGE,
      routingKey: quotaCompletedRoutingKey('pacs'),
      type: QUOTA_COMPLETED_TYPE,
      source: 'care-plans',
      gtid,
      payload: { gtid, reservations: [{ key, resource, units: 2, epoch: body.epoch }] },
    });
    const first = randomUUID();
    await publisher.publish([event(first), event(first), event(randomUUID())]);
    await waitFor(async () => (await level(resource)).taken === 2);
    await waitFor(
      async () =>
        (
          (await call('GET', `/api/capacity/quota/resources/${resource}`)).body.cache as {
            reservations: number;
          }
        ).reservations === 0,
    );
    // Three deliveries, two message ids: the claim key applied it once.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await level(resource)).toMatchObject({ taken: 2, lent: 2, available: 6 });
    const claims = await db.query('SELECT key, mode, state FROM tx_capacity_claim WHERE gtid = $1', [gtid]);
    expect(claims).toEqual([{ key, mode: 'quota-saga', state: 'applied' }]);
  });

  it('refuses bad requests with a 4xx and reserves nothing', async () => {
    const resource = await register('2027-03-03', 5);
    const gtid = randomUUID();
    const cases: [unknown, number][] = [
      [{ key: `${gtid}:imaging`, gtid, resource: 'imaging:CT:2027-09-09', units: 1 }, 404],
      [{ key: `${gtid}:imaging`, gtid, resource, units: 0 }, 400],
      [{ key: `${gtid}:imaging`, gtid, resource, units: 10_001 }, 400],
      [{ key: 'no spaces allowed', gtid, resource, units: 1 }, 400],
      [{ key: `${gtid}:imaging`, gtid: 'bad gtid!', resource, units: 1 }, 400],
      [{ key: `${gtid}:imaging`, gtid, resource, units: 1, extra: true }, 400],
      [{ key: `${gtid}:imaging`, gtid, resource, units: 6 }, 409],
    ];
    for (const [body, status] of cases) expect((await quota('reserve', body)).status).toBe(status);
    // Nothing reserved, and nothing lent for a reservation no lend could have satisfied.
    expect(await level(resource)).toMatchObject({ taken: 0, lent: 0, available: 5 });
    expect((await call('GET', `/api/capacity/quota/resources/${resource}`)).body).toMatchObject({
      cache: null,
    });
    expect((await quota('hold', { key: `${gtid}:imaging` })).status).toBe(400);
  });
});
