import { randomBytes } from 'node:crypto';
import { GetMessage } from 'amqplib';
import { Database, Session } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  Disposition,
  InboundMessage,
  InboxConsumer,
  MessageHandler,
  MessageHeaders,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxRelay,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  PostgresInbox,
  PostgresOutbox,
  RabbitMqConnection,
  RabbitMqPublisher,
} from '@hospital/transactions';
import { eventually } from '@hospital/platform/testing/waiting';

/**
 * The outbox and inbox adapters under concurrency, against the real PostgreSQL and RabbitMQ: two relays
 * (each with two rounds in flight) draining one outbox while producers keep appending, and one message
 * handed to two consumers at once, the second while the first one's commit is still in flight.
 */
jest.setTimeout(60_000);

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const MIGRATIONS = [
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
];

describe('outbox and inbox adapters under concurrency', () => {
  const namespace = `test-${randomBytes(4).toString('hex')}`;
  const drops: (() => Promise<void>)[] = [];
  const databases: Database[] = [];

  const open = async (): Promise<{ db: Database; settings: Database['settings'] }> => {
    const { settings, drop } = await createTestDatabase('txlib_outbox', MIGRATIONS);
    drops.push(drop);
    const db = new Database(settings, 'outbox-concurrency-test');
    databases.push(db);
    return { db, settings };
  };

  afterAll(async () => {
    for (const db of databases) await db.close();
    for (const drop of drops) await drop();
  });

  describe('two relays on one outbox', () => {
    const connections: RabbitMqConnection[] = [];

    afterAll(async () => {
      await connections[0]
        ?.withChannel(async (channel) => {
          await channel.deleteQueue(`${namespace}.audit`);
          await channel.deleteExchange(`${namespace}.ward`);
        })
        .catch(() => undefined);
      for (const connection of connections) await connection.close();
    });

    it('publishes every message exactly once, in order per aggregate, and marks none twice', async () => {
      const { db } = await open();
      // Any mark of a message already marked published means a relay published it again meanwhile.
      await db.query(`CREATE TABLE double_marks (id text NOT NULL)`);
      await db.query(`CREATE FUNCTION note_double_mark() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN INSERT INTO double_marks VALUES (OLD.id); RETURN NEW; END $$`);
      await db.query(`CREATE TRIGGER double_mark BEFORE UPDATE OF published_at ON tx_outbox
          FOR EACH ROW WHEN (OLD.published_at IS NOT NULL) EXECUTE FUNCTION note_double_mark()`);

      // Two replicas: each its own broker connection, publisher, outbox store and relay (two rounds each).
      const replicas = [0, 1].map((i) => {
        const connection = new RabbitMqConnection(AMQP_URL, `outbox-relay-${i}`, namespace);
        connections.push(connection);
        const outbox = new PostgresOutbox(db, 'ward-app');
        const relay = new OutboxRelay(outbox, new RabbitMqPublisher(connection), {
          batchSize: 20,
          pollMs: 20,
          rounds: 2,
        });
        return { outbox, relay };
      });
      const audit = `${namespace}.audit`;
      await connections[0].withChannel(async (channel) => {
        await channel.assertExchange(`${namespace}.ward`, 'topic', { durable: true });
        await channel.assertQueue(audit, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
        await channel.bindQueue(audit, `${namespace}.ward`, '#');
      });
      replicas.forEach((r) => r.relay.start());

      // Four producers append at once, one to five events a transaction, over six aggregates.
      const aggregates = ['bed-1', 'bed-2', 'bed-3', 'bed-4', 'bed-5', 'bed-6'];
      await Promise.all(
        [0, 1, 2, 3].map(async (producer) => {
          for (let n = 0; n < 100;) {
            const size = 1 + ((producer + n) % 5);
            const events = Array.from({ length: Math.min(size, 100 - n) }, (_, k) => ({
              exchange: 'ward',
              routingKey: 'ward.event',
              type: 'test.ward-event',
              aggregateId: aggregates[(producer * 7 + n + k) % aggregates.length],
              payload: { producer, n: n + k },
            }));
            await db.transaction((tx) => replicas[producer % 2].outbox.append(tx, events));
            replicas[producer % 2].outbox.notify();
            n += events.length;
          }
        }),
      );
      await eventually(
        () => replicas[0].outbox.backlog(),
        (backlog) => backlog.pending === 0,
      );
      await Promise.all(replicas.map((r) => r.relay.stop()));
      await Promise.all(replicas.map((r) => r.outbox.close()));

      // Every publish was confirmed before its mark, so the audit queue holds all of them by now.
      const received = await connections[0].withChannel(async (channel) => {
        const taken: GetMessage[] = [];
        for (;;) {
          const message = await channel.get(audit, { noAck: true });
          if (message === false) return taken;
          taken.push(message);
        }
      });
      const written = await db.query<{ id: string }>('SELECT id FROM tx_outbox');
      expect(written).toHaveLength(400);
      const ids = received.map((m) => String(m.properties.messageId));
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.sort()).toEqual(written.map((w) => w.id).sort());
      const last = new Map<string, number>();
      const outOfOrder: string[] = [];
      for (const message of received) {
        const headers = message.properties.headers ?? {};
        const aggregate = String(headers[MessageHeaders.aggregateId]);
        const sequence = Number(headers[MessageHeaders.sequence]);
        if (sequence !== (last.get(aggregate) ?? 0) + 1)
          outOfOrder.push(`${aggregate}: ${sequence} after ${last.get(aggregate) ?? 0}`);
        last.set(aggregate, sequence);
      }
      expect(outOfOrder).toEqual([]);
      expect(await db.query('SELECT id FROM double_marks')).toEqual([]);
    });
  });

  describe('one message handed to two consumers at once', () => {
    let consumerDb: Database;
    let otherPool: Database;

    beforeAll(async () => {
      const opened = await open();
      consumerDb = opened.db;
      // The second consumer (another replica after a failover) has its own connections.
      otherPool = new Database(opened.settings, 'outbox-concurrency-other');
      databases.push(otherPool);
      // No unique key here: only the inbox stands between a second delivery and a second effect.
      await consumerDb.query('CREATE TABLE administrations (message_id text NOT NULL)');
    });

    /** Resolves for both callers once both reached the same message, so each sees the other's work open. */
    function meetingPoint(): (id: string) => Promise<void> {
      const waiting = new Map<string, () => void>();
      return (id) =>
        new Promise<void>((resolve) => {
          const other = waiting.get(id);
          if (other) {
            waiting.delete(id);
            other();
            resolve();
          } else {
            waiting.set(id, resolve);
          }
        });
    }

    function consumers(): InboxConsumer<Session>[] {
      const meet = meetingPoint();
      const handler: MessageHandler<Session> = {
        async handle(session: Session, message: InboundMessage): Promise<void> {
          await session.query('INSERT INTO administrations (message_id) VALUES ($1)', [message.id]);
          // Both transactions have applied the effect and neither has committed.
          await meet(message.id);
        },
      };
      return [consumerDb, otherPool].map(
        (db) => new InboxConsumer(db, new PostgresInbox(), handler, { name: 'ward-inbox', maxAttempts: 5 }),
      );
    }

    const inbound = (id: string, ordered?: { aggregateId: string; sequence: number }): InboundMessage => ({
      id,
      type: 'test.administration',
      gtid: id,
      source: 'ward-app',
      payload: {},
      deliveryCount: 0,
      replayed: false,
      ...ordered,
    });

    async function effects(ids: readonly string[]): Promise<Map<string, number>> {
      const rows = await consumerDb.query<{ message_id: string; n: number }>(
        `SELECT message_id, count(*)::int AS n FROM administrations WHERE message_id = ANY($1) GROUP BY 1`,
        [ids],
      );
      return new Map(rows.map((r) => [r.message_id, r.n]));
    }

    it('applies a message delivered twice at once exactly once; the redelivery is then a duplicate', async () => {
      const [first, second] = consumers();
      const ids = Array.from({ length: 10 }, (_, i) => `admin-${namespace}-${i}`);
      for (const id of ids) {
        const message = inbound(id);
        const [a, b] = await Promise.all([first.process([message]), second.process([message])]);
        // One commits; the other collides on the inbox key, rolls back its effect and is retried.
        expect([a[0].kind, b[0].kind].sort()).toEqual(['applied', 'retry']);
        const again = await second.process([{ ...message, deliveryCount: 1 }]);
        expect(again).toEqual([{ kind: 'duplicate' }]);
      }
      expect([...(await effects(ids)).values()]).toEqual(ids.map(() => 1));
    });

    it('applies a batch delivered to two consumers at once exactly once, ordered messages included', async () => {
      const [first, second] = consumers();
      const batch = Array.from({ length: 8 }, (_, i) =>
        inbound(`batch-${namespace}-${i}`, {
          aggregateId: `patient-${i % 2}`,
          sequence: 1 + Math.floor(i / 2),
        }),
      );
      const [a, b]: Disposition[][] = await Promise.all([first.process(batch), second.process(batch)]);
      const kinds = batch.map((_, i) => [a[i].kind, b[i].kind].sort().join('+'));
      // The loser's batch fails as a whole; retried one by one, it finds every message applied.
      expect(kinds).toEqual(batch.map(() => 'applied+duplicate'));
      const counts = await effects(batch.map((m) => m.id));
      expect(batch.map((m) => counts.get(m.id) ?? 0)).toEqual(batch.map(() => 1));
    });
  });
});
