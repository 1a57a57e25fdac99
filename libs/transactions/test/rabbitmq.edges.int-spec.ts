import { randomBytes } from 'node:crypto';
import { ConfirmChannel } from 'amqplib';
import { Database, Session } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { eventually } from '@hospital/platform/testing/waiting';
import {
  Disposition,
  InboundMessage,
  InboxConsumer,
  MessageHandler,
  MessageHeaders,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  PostgresInbox,
  RabbitMqConnection,
  RabbitMqConsumer,
  RabbitMqConsumerOptions,
  RabbitMqDeadLetters,
  RabbitMqPublisher,
} from '@hospital/transactions';

/**
 * The RabbitMQ adapters at their edges, against the real broker: what a published message carries, a
 * consumer whose dead-letter copy the broker refuses, a message that fails on every delivery, and a replay
 * the broker refuses. The broker refuses a publish for real: a queue at its length limit with
 * `x-overflow: reject-publish` answers it with a nack.
 */
jest.setTimeout(30_000);

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

describe('RabbitMQ adapters at their edges', () => {
  const namespace = `rabbit-${randomBytes(4).toString('hex')}`;
  let connection: RabbitMqConnection;
  let publisher: RabbitMqPublisher;
  let db: Database;
  let drop: () => Promise<void>;
  const queues = ['persisted', 'refused', 'failing', 'replayed'];

  beforeAll(async () => {
    connection = new RabbitMqConnection(AMQP_URL, 'rabbitmq-edges-test', namespace);
    publisher = new RabbitMqPublisher(connection);
    const created = await createTestDatabase('txlib_outbox', [
      MessagingTables1763800000000,
      OutboxLeanIndexes1763800000300,
      OutboxUnroutable1763800000400,
      OutboxTraceContext1766600000000,
    ]);
    db = new Database(created.settings, 'rabbitmq-edges-test');
    drop = created.drop;
  });

  afterAll(async () => {
    await publisher?.close();
    await connection
      ?.withChannel(async (channel) => {
        for (const queue of queues) {
          await channel.deleteQueue(connection.name(queue));
          await channel.deleteQueue(`${connection.name(queue)}.dead-letter`);
        }
        await channel.deleteExchange(connection.name('ward'));
      })
      .catch(() => undefined);
    await connection?.close();
    await db?.close();
    await drop?.();
  });

  /** `queue` (its full name) replaced by an empty one at its length limit of 0: it refuses every publish. */
  const refusing = (queue: string): Promise<void> =>
    connection.withChannel(async (channel) => {
      await channel.deleteQueue(queue);
      await channel.assertQueue(queue, {
        durable: true,
        arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' },
      });
    });
  /** `queue` replaced by the plain quorum queue the adapters declare: it accepts again. */
  const accepting = (queue: string): Promise<void> =>
    connection.withChannel(async (channel) => {
      await channel.deleteQueue(queue);
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    });
  const depth = (queue: string): Promise<number> =>
    connection.withChannel(async (channel) => (await channel.checkQueue(queue)).messageCount);
  const take = (channel: ConfirmChannel, queue: string) => channel.get(queue, { noAck: true });

  const publish = (id: string, routingKey: string): Promise<void> =>
    publisher.publish([
      {
        id,
        exchange: 'ward',
        routingKey,
        type: 'test.ward-event',
        source: 'ward-app',
        gtid: `gtid-${id}`,
        payload: { n: 1 },
      },
    ]);

  const consumerOn = (
    queue: string,
    process: (batch: readonly InboundMessage[]) => Promise<Disposition[]>,
    options: Partial<RabbitMqConsumerOptions> = {},
  ): RabbitMqConsumer =>
    new RabbitMqConsumer(
      connection,
      {
        queue,
        bindings: [{ exchange: 'ward', routingKey: `${queue}.#` }],
        prefetch: 10,
        deliveryLimit: 12,
        retryDelayMs: 20,
        ...options,
      },
      process,
      { settled: () => undefined },
    );

  it('publishes persistent messages (delivery mode 2) carrying their id, type, source and gtid', async () => {
    const queue = connection.name('persisted');
    await connection.withChannel(async (channel) => {
      await channel.assertExchange(connection.name('ward'), 'topic', { durable: true });
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      await channel.bindQueue(queue, connection.name('ward'), 'persisted.#');
    });
    await publish('persisted-1', 'persisted.event');

    const taken = await connection.withChannel((channel) => take(channel, queue));
    if (taken === false) throw new Error('the published message is not on its queue');
    expect(taken.properties).toMatchObject({
      deliveryMode: 2,
      messageId: 'persisted-1',
      type: 'test.ward-event',
      appId: 'ward-app',
      headers: { [MessageHeaders.gtid]: 'gtid-persisted-1' },
    });
  });

  it('leaves a delivery on its queue while the broker refuses its dead-letter copy, and moves it once it accepts', async () => {
    let decided = 0;
    const deadLetter = (batch: readonly InboundMessage[]): Promise<Disposition[]> => {
      decided += batch.length;
      return Promise.resolve(batch.map(() => ({ kind: 'dead-letter', reason: 'refused by the ward' })));
    };
    // Redelivered at once after each refusal: the broker's own limit must not end the test first.
    const first = consumerOn('refused', deadLetter, { deliveryLimit: 10_000 });
    await first.start();
    const queue = first.queue;
    await refusing(`${queue}.dead-letter`);

    await publish('refused-1', 'refused.event');
    // Handed back after each refused copy, so it is decided again and again.
    await eventually(
      () => Promise.resolve(decided),
      (n) => n >= 3,
      5_000,
    );
    await first.stop();
    expect(decided).toBeGreaterThanOrEqual(3);
    expect(
      await eventually(
        () => depth(queue),
        (n) => n === 1,
        5_000,
      ),
    ).toBe(1);
    expect(await depth(`${queue}.dead-letter`)).toBe(0);

    // The dead-letter queue accepts again: the next consumer moves the delivery there, with its reason.
    await accepting(`${queue}.dead-letter`);
    const second = consumerOn('refused', deadLetter, { deliveryLimit: 10_000 });
    await second.start();
    const deadLetters = new RabbitMqDeadLetters(connection);
    await eventually(
      () => deadLetters.depth('refused'),
      (n) => n === 1,
    );
    await second.stop();
    expect(await depth(queue)).toBe(0);
    const [letter] = await deadLetters.list('refused', 10);
    expect(letter).toMatchObject({ messageId: 'refused-1', reason: 'refused by the ward' });
  });

  it('dead-letters a message failing on every delivery after exactly maxAttempts deliveries', async () => {
    /** The delivery count each attempt was handed. */
    const attempts: number[] = [];
    const handler: MessageHandler<Session> = {
      handle(_session: Session, message: InboundMessage): Promise<void> {
        attempts.push(message.deliveryCount);
        return Promise.reject(new Error('ward system unavailable'));
      },
    };
    const core = new InboxConsumer(db, new PostgresInbox(), handler, {
      name: `${namespace}-failing`,
      maxAttempts: 3,
    });
    // The broker's own limit (12 deliveries) is well past the consumer's 3.
    const consumer = consumerOn('failing', (batch) => core.process(batch));
    await consumer.start();
    await publish('failing-1', 'failing.event');

    const deadLetters = new RabbitMqDeadLetters(connection);
    await eventually(
      () => deadLetters.depth('failing'),
      (n) => n === 1,
    );
    const [letter] = await deadLetters.list('failing', 10);
    await consumer.stop();
    expect(attempts).toEqual([0, 1, 2]);
    expect(letter.messageId).toBe('failing-1');
    expect(letter.reason).toBe('failed 3 time(s): ward system unavailable');
    expect(await depth(consumer.queue)).toBe(0);
  });

  it('keeps a dead letter in its queue when the broker refuses the replayed copy', async () => {
    const queue = connection.name('replayed');
    const deadLetterQueue = `${queue}.dead-letter`;
    await connection.withChannel(async (channel) => {
      await channel.assertQueue(deadLetterQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      channel.sendToQueue(deadLetterQueue, Buffer.from('{"n":1}'), {
        persistent: true,
        messageId: 'replayed-1',
        type: 'test.ward-event',
        headers: { [MessageHeaders.deadLetterReason]: 'refused by the ward' },
      });
      await channel.waitForConfirms();
    });
    await refusing(queue);
    const deadLetters = new RabbitMqDeadLetters(connection);

    await expect(deadLetters.replay('replayed', 10)).rejects.toThrow();
    expect(
      await eventually(
        () => deadLetters.depth('replayed'),
        (n) => n === 1,
        5_000,
      ),
    ).toBe(1);
    expect(await depth(queue)).toBe(0);

    // Once the queue accepts again, the replay moves it there, marked as replayed and without its reason.
    await accepting(queue);
    expect(await deadLetters.replay('replayed', 10)).toBe(1);
    expect(await deadLetters.depth('replayed')).toBe(0);
    const taken = await connection.withChannel((channel) => take(channel, queue));
    if (taken === false) throw new Error('the replayed message is not on its queue');
    expect(taken.properties.messageId).toBe('replayed-1');
    expect(taken.properties.headers?.[MessageHeaders.replayed]).toBe(true);
    expect(taken.properties.headers?.[MessageHeaders.deadLetterReason]).toBeUndefined();
  });
});
