import { randomBytes } from 'node:crypto';
import { INestApplication } from '@nestjs/common';
import { GetMessage } from 'amqplib';
import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { eventually, freePort } from '@hospital/platform/testing/waiting';
import { MessagingModule, Outbox, RabbitMqConnection } from '@hospital/transactions';
import { messagingMigrations, startTestService, testServiceConfig } from './support/service-apps';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * A service with an outbox as a real Nest app over real HTTP, PostgreSQL and RabbitMQ: an event whose
 * routing key no queue is bound to stays pending and shows at `/api/messages/outbox/held` (never its
 * payload) until a queue is bound and an operator sends it again.
 */
jest.setTimeout(60_000);

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

describe('/api/messages: messages routed to no queue', () => {
  const namespace = `test-${randomBytes(4).toString('hex')}`;
  let drop: () => Promise<void>;
  let app: INestApplication;
  let url: string;
  let connection: RabbitMqConnection;

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_outbox', messagingMigrations);
    drop = created.drop;
    const port = await freePort();
    const config = testServiceConfig({
      name: 'ward-app',
      port,
      database: created.settings.database,
      env: { HOST: '127.0.0.1', AMQP_URL, MESSAGING_NAMESPACE: namespace, OUTBOX_POLL_MS: '50' },
    });
    app = await startTestService(config, [MessagingModule.forRoot({ outbox: true })]);
    url = `http://127.0.0.1:${port}`;
    connection = new RabbitMqConnection(AMQP_URL, 'outbox-http-test', namespace);
  });

  afterAll(async () => {
    await connection
      ?.withChannel(async (channel) => {
        await channel.deleteQueue(`${namespace}.ward-audit`);
        await channel.deleteExchange(`${namespace}.ward`);
      })
      .catch(() => undefined);
    await connection?.close();
    await app?.close();
    await drop?.();
  });

  const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${url}${path}`, { headers: { authorization: testAuthorizationFor(path) } });
    return { status: response.status, body: (await response.json()) as T };
  };

  it('lists a held message without its payload, and sends it once a queue is bound and a retry is asked', async () => {
    const outbox = app.get(Outbox);
    const db = app.get(Database);
    const [stored] = await db.transaction((tx) =>
      outbox.append(tx, [
        {
          exchange: 'ward',
          routingKey: 'ward.bed-assigned',
          type: 'ward.bed-assigned',
          aggregateId: 'bed-7',
          payload: { patient: 'never shown' },
        },
      ]),
    );
    outbox.notify();

    const backlog = await eventually(
      () => get<{ pending: number; held: number }>('/api/messages/outbox'),
      (r) => r.body.held === 1,
    );
    expect(backlog.body).toMatchObject({ pending: 1, held: 1 });
    const held = await get<Record<string, unknown>[]>('/api/messages/outbox/held');
    expect(held.status).toBe(200);
    expect(held.body).toHaveLength(1);
    expect(held.body[0]).toMatchObject({
      id: stored.id,
      type: 'ward.bed-assigned',
      exchange: 'ward',
      routingKey: 'ward.bed-assigned',
      aggregateId: 'bed-7',
      sequence: 1,
    });
    expect(held.body[0].attempts).toBeGreaterThanOrEqual(1);
    expect(String(held.body[0].lastError)).toContain('NO_ROUTE');
    expect(JSON.stringify(held.body)).not.toContain('never shown');

    const audit = `${namespace}.ward-audit`;
    await connection.withChannel(async (channel) => {
      await channel.assertQueue(audit, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      await channel.bindQueue(audit, `${namespace}.ward`, 'ward.#');
    });
    const retried = await fetch(`${url}/api/messages/outbox/held/retry`, {
      method: 'POST',
      headers: { authorization: testAuthorizationFor('/api/messages') },
    });
    expect(retried.status).toBe(200);
    expect(await retried.json()).toEqual({ retried: 1 });
    await eventually(
      () => get<{ pending: number }>('/api/messages/outbox'),
      (r) => r.body.pending === 0,
    );
    const received = await connection.withChannel(async (channel) => {
      const taken: GetMessage[] = [];
      for (
        let m = await channel.get(audit, { noAck: true });
        m !== false;
        m = await channel.get(audit, { noAck: true })
      ) {
        taken.push(m);
      }
      return taken;
    });
    expect(received.map((m) => String(m.properties.messageId))).toEqual([stored.id]);
  });

  it('answers 400 to a limit that is not a number from 1 to 1000, and changes nothing', async () => {
    for (const limit of ['0', 'abc', '5000']) {
      const response = await get<{ message: unknown }>(`/api/messages/outbox/held?limit=${limit}`);
      expect(response.status).toBe(400);
    }
    expect((await get<{ pending: number }>('/api/messages/outbox')).body.pending).toBe(0);
  });
});
