import { randomBytes } from 'node:crypto';
import { activeTraceId, Database, Session, startTracing } from '@hospital/platform';
import { SpanKind, trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  InboundMessage,
  InboxConsumer,
  MessageHandler,
  MessageHeaders,
  MessagingTables1763800000000,
  NewOutboxEvent,
  OUTBOX_PARTITIONS,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  OutboxRelay,
  PostgresInbox,
  PostgresOutbox,
  RabbitMqConnection,
  RabbitMqConsumer,
  RabbitMqDeadLetters,
  RabbitMqPublisher,
  RejectedMessageError,
} from '@hospital/transactions';
import { eventually } from '@hospital/platform/testing/waiting';

/**
 * The outbox and inbox adapters against the real PostgreSQL and RabbitMQ: events written with their
 * change reach a consumer exactly once and in order per aggregate, through duplicates, two relays at once,
 * messages routed to no queue, successors delivered before their predecessor, and rejections that land in
 * the dead-letter queue and can be replayed.
 */
jest.setTimeout(30_000);

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

describe('transactional outbox and inbox over PostgreSQL and RabbitMQ', () => {
  const namespace = `test-${randomBytes(4).toString('hex')}`;
  const drops: (() => Promise<void>)[] = [];
  let producerDb: Database;
  let consumerDb: Database;
  let connection: RabbitMqConnection;
  let publisher: RabbitMqPublisher;
  let consumer: RabbitMqConsumer;
  const refused = new Set<string>();
  /** Every disposition the consumer carried out, in order. */
  const settled: string[] = [];
  /** The trace each message was handled in, by message id (none outside any trace). */
  const handledIn = new Map<string, string | undefined>();

  /** Applies a message by writing one effect row; refuses payloads it was told to refuse. */
  const handler: MessageHandler<Session> = {
    async handle(session: Session, message: InboundMessage): Promise<void> {
      const { n } = message.payload as { n: number };
      handledIn.set(message.id, activeTraceId());
      if (refused.has(message.id)) throw new RejectedMessageError(`event ${n} refused by the test`);
      await session.query('INSERT INTO effects (message_id, aggregate_id, sequence) VALUES ($1, $2, $3)', [
        message.id,
        message.aggregateId,
        message.sequence,
      ]);
    },
  };

  const open = async (): Promise<Database> => {
    const { settings, drop } = await createTestDatabase('txlib_outbox', [
      MessagingTables1763800000000,
      OutboxLeanIndexes1763800000300,
      OutboxUnroutable1763800000400,
      OutboxTraceContext1766600000000,
    ]);
    drops.push(drop);
    return new Database(settings, 'outbox-test');
  };

  beforeAll(async () => {
    producerDb = await open();
    consumerDb = await open();
    await consumerDb.query(
      'CREATE TABLE effects (at bigserial, message_id text UNIQUE, aggregate_id text, sequence bigint)',
    );
    connection = new RabbitMqConnection(AMQP_URL, 'outbox-test', namespace);
    publisher = new RabbitMqPublisher(connection);
    const core = new InboxConsumer(consumerDb, new PostgresInbox(), handler, {
      name: 'effects',
      maxAttempts: 3,
    });
    consumer = new RabbitMqConsumer(
      connection,
      {
        queue: 'effects',
        bindings: [{ exchange: 'ward', routingKey: 'ward.#' }],
        prefetch: 100,
        deliveryLimit: 12,
        retryDelayMs: 20,
      },
      (batch) => core.process(batch),
      { settled: (_queue, kind) => settled.push(kind) },
    );
    await consumer.start();
  });

  afterAll(async () => {
    await consumer?.stop();
    await connection
      ?.withChannel(async (channel) => {
        await channel.deleteQueue(`${namespace}.effects`);
        await channel.deleteQueue(`${namespace}.effects.dead-letter`);
        await channel.deleteExchange(`${namespace}.ward`);
      })
      .catch(() => undefined);
    await connection?.close();
    await producerDb?.close();
    await consumerDb?.close();
    for (const drop of drops) await drop();
  });

  const event = (n: number, aggregate: string): NewOutboxEvent => ({
    exchange: 'ward',
    routingKey: 'ward.event',
    type: 'test.ward-event',
    aggregateId: aggregate,
    payload: { n },
  });

  /** Writes `count` events over `aggregates`, a few per local transaction. */
  async function write(outbox: PostgresOutbox, count: number, aggregates: string[]): Promise<void> {
    for (let i = 0; i < count; i += 5) {
      await producerDb.transaction((tx) =>
        outbox.append(
          tx,
          [0, 1, 2, 3, 4]
            .filter((k) => i + k < count)
            .map((k) => event(i + k, aggregates[(i + k) % aggregates.length])),
        ),
      );
    }
  }

  async function effects(): Promise<{ message_id: string; aggregate_id: string; sequence: number }[]> {
    return consumerDb.query('SELECT message_id, aggregate_id, sequence FROM effects ORDER BY at');
  }

  function expectOrderedOnce(rows: { message_id: string; aggregate_id: string; sequence: number }[]): void {
    expect(new Set(rows.map((r) => r.message_id)).size).toBe(rows.length);
    const last = new Map<string, number>();
    for (const row of rows) {
      expect(row.sequence).toBe((last.get(row.aggregate_id) ?? 0) + 1);
      last.set(row.aggregate_id, row.sequence);
    }
  }

  it('delivers every event once and in order per aggregate, with two relays running at once', async () => {
    const outboxes = [new PostgresOutbox(producerDb, 'ward-app'), new PostgresOutbox(producerDb, 'ward-app')];
    const relays = outboxes.map((o) => new OutboxRelay(o, publisher, { batchSize: 25, pollMs: 50 }));
    relays.forEach((r) => r.start());
    await write(outboxes[0], 300, ['bed-1', 'bed-2', 'bed-3', 'bed-4']);
    outboxes[0].notify();
    const rows = await eventually(effects, (r) => r.length >= 300);
    await Promise.all(relays.map((r) => r.stop()));
    await Promise.all(outboxes.map((o) => o.close()));
    expect(rows).toHaveLength(300);
    expectOrderedOnce(rows);
    expect((await outboxes[0].backlog()).pending).toBe(0);
  });

  it('changes nothing when already-delivered messages are published again', async () => {
    const outbox = new PostgresOutbox(producerDb, 'ward-app');
    const before = (await effects()).length;
    const delivered = await producerDb.query<{ id: string; aggregate_id: string; sequence: number }>(
      'SELECT id, aggregate_id, sequence FROM tx_outbox ORDER BY position LIMIT 50',
    );
    await publisher.publish(
      delivered.map((m) => ({
        id: m.id,
        exchange: 'ward',
        routingKey: 'ward.event',
        type: 'test.ward-event',
        source: 'ward-app',
        gtid: m.id,
        aggregateId: m.aggregate_id,
        sequence: m.sequence,
        payload: { n: -1 },
      })),
    );
    // A fresh event behind the duplicates proves they were all settled before it.
    await write(outbox, 1, ['bed-9']);
    const relay = new OutboxRelay(outbox, publisher, { batchSize: 25, pollMs: 50 });
    await relay.publishBatch();
    const rows = await eventually(effects, (r) => r.length >= before + 1);
    expect(rows).toHaveLength(before + 1);
    expectOrderedOnce(rows);
    await outbox.close();
  });

  it('dead-letters a refused message with its reason, and applies it once when replayed', async () => {
    const outbox = new PostgresOutbox(producerDb, 'ward-app');
    const [stored] = await producerDb.transaction((tx) => outbox.append(tx, [event(1000, 'bed-10')]));
    refused.add(stored.id);
    const relay = new OutboxRelay(outbox, publisher, { batchSize: 25, pollMs: 50 });
    await relay.publishBatch();
    const deadLetters = new RabbitMqDeadLetters(connection);
    await eventually(
      () => deadLetters.depth('effects'),
      (n) => n === 1,
    );
    const [letter] = await deadLetters.list('effects', 10);
    expect(letter).toMatchObject({ messageId: stored.id, reason: 'event 1000 refused by the test' });
    expect(await consumerDb.query('SELECT 1 FROM effects WHERE message_id = $1', [stored.id])).toHaveLength(
      0,
    );

    refused.delete(stored.id);
    expect(await deadLetters.replay('effects', 10)).toBe(1);
    await eventually(
      () => consumerDb.query('SELECT 1 FROM effects WHERE message_id = $1', [stored.id]),
      (rows) => rows.length === 1,
    );
    expect(await deadLetters.depth('effects')).toBe(0);
    await outbox.close();
  });

  it('dead-letters a message whose body is not JSON, and writes nothing', async () => {
    const before = (await effects()).length;
    await connection.withChannel(async (channel) => {
      channel.publish(`${namespace}.ward`, 'ward.event', Buffer.from('{not json'), {
        messageId: 'malformed-1',
        type: 'test.ward-event',
        headers: { [MessageHeaders.gtid]: 'malformed-1' },
      });
      await channel.waitForConfirms();
    });
    const deadLetters = new RabbitMqDeadLetters(connection);
    await eventually(
      () => deadLetters.depth('effects'),
      (n) => n === 1,
    );
    const [letter] = await deadLetters.list('effects', 10);
    expect(letter).toMatchObject({ messageId: 'malformed-1', reason: 'test.ward-event: body is not JSON' });
    expect(await effects()).toHaveLength(before);
  });

  it('keeps a message routed to no queue pending (and the later ones of its aggregate), and delivers it once a queue is bound', async () => {
    // Held for a minute unless an operator asks for it to go again (retryHeld).
    const outbox = new PostgresOutbox(producerDb, 'ward-app', { unroutableRetryMs: 60_000 });
    const relay = new OutboxRelay(outbox, publisher, { batchSize: 25, pollMs: 50 });
    // No queue is bound to 'ward' for 'nowhere.event'; the second event of bed-20 and bed-21's are routed.
    const [lost, behind, other] = await producerDb.transaction((tx) =>
      outbox.append(tx, [
        { ...event(2000, 'bed-20'), routingKey: 'nowhere.event' },
        event(2001, 'bed-20'),
        event(2002, 'bed-21'),
      ]),
    );
    const state = (id: string): Promise<{ published: boolean; held: boolean; attempts: number }[]> =>
      producerDb.query(
        `SELECT published_at IS NOT NULL AS published, retry_at IS NOT NULL AS held, attempts
           FROM tx_outbox WHERE id = $1`,
        [id],
      );
    await eventually(
      async () => {
        await relay.publishBatch();
        return state(other.id);
      },
      ([row]) => row.published,
    );
    expect(await state(lost.id)).toEqual([{ published: false, held: true, attempts: 1 }]);
    expect(await state(behind.id)).toEqual([{ published: false, held: false, attempts: 0 }]);
    const backlog = await outbox.backlog();
    expect(backlog).toMatchObject({ pending: 2, held: 1 });
    const [held] = await outbox.held(10);
    expect(held).toMatchObject({ id: lost.id, exchange: 'ward', routingKey: 'nowhere.event', attempts: 1 });
    expect(held.lastError).toContain('NO_ROUTE');
    // While bed-20's first event is held, no claim hands out the later ones, and they do not crowd out the
    // rest: more of them than a one-message claim looks at, then an event of an aggregate elsewhere.
    const partitionOf = async (aggregate: string): Promise<number> => {
      const [row] = await producerDb.query<{ partition: number }>(
        `SELECT (hashtext($1) & 2147483647) % ${OUTBOX_PARTITIONS} AS partition`,
        [aggregate],
      );
      return row.partition;
    };
    const near = async (same: boolean): Promise<string> => {
      const target = await partitionOf('bed-20');
      for (let n = 100; ; n += 1)
        if (((await partitionOf(`bed-${n}`)) === target) === same) return `bed-${n}`;
    };
    const later = await producerDb.transaction((tx) =>
      outbox.append(
        tx,
        [2003, 2004, 2005, 2006].map((n) => event(n, 'bed-20')),
      ),
    );
    const [elsewhere] = await producerDb.transaction(async (tx) =>
      outbox.append(tx, [event(2007, await near(false))]),
    );
    const one = await outbox.claim(1);
    expect(one?.messages.map((m) => m.id)).toEqual([elsewhere.id]);
    await one?.release();
    const [neighbour] = await producerDb.transaction(async (tx) =>
      outbox.append(tx, [event(2008, await near(true))]),
    );
    const claim = await outbox.claim(100);
    expect(claim?.messages.map((m) => m.id).sort()).toEqual([elsewhere.id, neighbour.id].sort());
    await claim?.release();

    // The consumer's queue is bound to the missing routing key: both go out, in order, applied once.
    await connection.withChannel((channel) =>
      channel.bindQueue(`${namespace}.effects`, `${namespace}.ward`, 'nowhere.event'),
    );
    expect(await outbox.retryHeld()).toBe(1);
    await eventually(
      async () => {
        await relay.publishBatch();
        return (await outbox.backlog()).pending;
      },
      (pending) => pending === 0,
    );
    const rows = await eventually(
      () =>
        consumerDb.query<{ message_id: string; sequence: number }>(
          `SELECT message_id, sequence FROM effects WHERE aggregate_id = 'bed-20' ORDER BY at`,
        ),
      (r) => r.length >= 6,
    );
    expect(rows.map((r) => r.message_id)).toEqual([lost.id, behind.id, ...later.map((m) => m.id)]);
    await outbox.close();
  });

  it('publishes a held message again by itself once its delay has passed and a queue is bound by then', async () => {
    // Held for a quarter of a second at a time; no operator asks for a retry.
    const outbox = new PostgresOutbox(producerDb, 'ward-app', {
      unroutableRetryMs: 250,
      unroutableRetryMaxMs: 250,
    });
    const relay = new OutboxRelay(outbox, publisher, { batchSize: 25, pollMs: 50 });
    const [late] = await producerDb.transaction((tx) =>
      outbox.append(tx, [{ ...event(4000, 'bed-40'), routingKey: 'later.event' }]),
    );
    relay.start();
    const held = await eventually(
      () => outbox.held(10),
      (rows) => rows.some((r) => r.id === late.id),
    );
    expect(held.map((r) => r.id)).toEqual([late.id]);

    await connection.withChannel((channel) =>
      channel.bindQueue(`${namespace}.effects`, `${namespace}.ward`, 'later.event'),
    );
    const applied = await eventually(
      () => consumerDb.query('SELECT 1 FROM effects WHERE message_id = $1', [late.id]),
      (rows) => rows.length === 1,
    );
    await relay.stop();
    expect(applied).toHaveLength(1);
    expect(await outbox.backlog()).toMatchObject({ pending: 0, held: 0 });
    await outbox.close();
  });

  it('never applies a message before its predecessor, however often the successor was delivered first', async () => {
    const message = (sequence: number) => ({
      id: `gap-${namespace}-${sequence}`,
      exchange: 'ward',
      routingKey: 'ward.event',
      type: 'test.ward-event',
      source: 'ward-app',
      gtid: `gap-${sequence}`,
      aggregateId: 'bed-30',
      sequence,
      payload: { n: 3000 + sequence },
    });
    const retriesBefore = settled.filter((kind) => kind === 'retry').length;
    const applied = (sequence: number) =>
      consumerDb.query('SELECT 1 FROM effects WHERE message_id = $1', [message(sequence).id]);
    await publisher.publish([message(2)]);
    // Delivered and handed back more often than the consumer's attempts (3): the old patience ran out here.
    await eventually(
      async () => ({
        retries: settled.filter((kind) => kind === 'retry').length - retriesBefore,
        applied: (await applied(2)).length,
      }),
      (seen) => seen.retries >= 4 || seen.applied > 0,
    );
    expect(await applied(2)).toHaveLength(0);
    await publisher.publish([message(1)]);
    const rows = await eventually(
      () =>
        consumerDb.query<{ message_id: string }>(
          `SELECT message_id FROM effects WHERE aggregate_id = 'bed-30' ORDER BY at`,
        ),
      (r) => r.length >= 2,
    );
    expect(rows.map((r) => r.message_id)).toEqual([message(1).id, message(2).id]);
  });

  it('prunes inbox rows past their retention, of its own consumers only, and keeps the cursors', async () => {
    const inbox = new PostgresInbox();
    const rows = [
      ['retention', 'old-1', '3 hours'],
      ['retention', 'old-2', '2 hours'],
      ['retention', 'old-3', '2 hours'],
      ['retention', 'recent', '1 minute'],
      ['elsewhere', 'old-other', '3 hours'],
    ];
    for (const [consumer, id, age] of rows) {
      await consumerDb.query(
        `INSERT INTO tx_inbox (consumer, message_id, outcome, received_at)
         VALUES ($1, $2, 'applied', now() - $3::interval)`,
        [consumer, id, age],
      );
    }
    await consumerDb.query(
      `INSERT INTO tx_inbox_cursor (consumer, aggregate_id, last_sequence) VALUES ('retention', 'bed-1', 7)`,
    );
    // Two rows a statement: the loop runs until a statement deletes fewer.
    expect(await inbox.prune(consumerDb, ['retention'], 3_600_000, 2)).toBe(3);
    const left = await consumerDb.query<{ message_id: string }>(
      `SELECT message_id FROM tx_inbox WHERE consumer IN ('retention', 'elsewhere') ORDER BY message_id`,
    );
    expect(left.map((r) => r.message_id)).toEqual(['old-other', 'recent']);
    const cursors = await consumerDb.query(`SELECT 1 FROM tx_inbox_cursor WHERE consumer = 'retention'`);
    expect(cursors).toHaveLength(1);
  });

  it("carries the writing request's trace to the consumer: its span is the request's child and the handler runs in it", async () => {
    const exported: ReadableSpan[] = [];
    const tracing = startTracing(
      'ward-app',
      {},
      {
        exporter: {
          export: (spans, done) => {
            exported.push(...spans);
            done({ code: ExportResultCode.SUCCESS });
          },
          shutdown: () => Promise.resolve(),
        },
      },
    );
    const outbox = new PostgresOutbox(producerDb, 'ward-app');
    try {
      const written = await trace.getTracer('ward-app').startActiveSpan('POST /ward-events', async (span) => {
        const [message] = await producerDb.transaction((session) =>
          outbox.append(session, [event(1, 'bed-traced')]),
        );
        span.end();
        return { ...span.spanContext(), id: message.id };
      });
      const relay = new OutboxRelay(outbox, publisher, { batchSize: 25, pollMs: 50 });
      await relay.publishBatch();
      await eventually(() => Promise.resolve(handledIn.has(written.id)), Boolean);
      // Written outside any trace: no context stored, so its consumer span starts a trace of its own.
      const [untraced] = await producerDb.transaction((session) =>
        outbox.append(session, [event(2, 'bed-untraced')]),
      );
      const stored = await producerDb.query<{ id: string; traceparent: string | null }>(
        'SELECT id, traceparent FROM tx_outbox WHERE id = ANY($1)',
        [[written.id, untraced.id]],
      );
      expect(Object.fromEntries(stored.map((r) => [r.id, r.traceparent]))).toEqual({
        [written.id]: `00-${written.traceId}-${written.spanId}-01`,
        [untraced.id]: null,
      });
      await relay.publishBatch();
      await eventually(() => Promise.resolve(handledIn.has(untraced.id)), Boolean);
      expect(handledIn.get(untraced.id)).not.toBe(written.traceId);
      expect(handledIn.get(written.id)).toBe(written.traceId);
      await tracing.flush();
      const consumed = (id: string) =>
        exported.find((s) => s.name === 'process effects' && s.attributes['messaging.message.id'] === id);
      const traced = consumed(written.id);
      expect(traced?.kind).toBe(SpanKind.CONSUMER);
      expect(traced?.spanContext().traceId).toBe(written.traceId);
      expect(traced?.parentSpanContext?.spanId).toBe(written.spanId);
      expect(traced?.attributes['hospital.message.outcome']).toBe('applied');
      expect(traced?.attributes['hospital.gtid']).toEqual(expect.any(String));
      const other = consumed(untraced.id);
      expect(other?.spanContext().traceId).not.toBe(written.traceId);
      expect(other?.parentSpanContext).toBeUndefined();
      // Nothing of the payload on a span.
      expect(JSON.stringify(traced?.attributes)).not.toContain('"n"');
    } finally {
      await outbox.close();
      await tracing.release();
    }
  });
});
