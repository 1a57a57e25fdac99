import { randomBytes } from 'node:crypto';
import { Database, Session } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  InboundMessage,
  InboxConsumer,
  MessageHandler,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
  PostgresInbox,
  RejectedMessageError,
} from '@hospital/transactions';
import { eventually } from '@hospital/platform/testing/waiting';

/**
 * The PostgreSQL inbox at its edges, one guard each: two consumers sharing a database, a redelivery of a
 * message already applied, the cursor an applied message moves, and a replayed dead letter delivered
 * twice. The consumers are driven directly (no broker): what is checked is the inbox's own record.
 */
describe('PostgreSQL inbox at its edges', () => {
  const namespace = `inbox-${randomBytes(4).toString('hex')}`;
  let db: Database;
  let drop: () => Promise<void>;
  const refused = new Set<string>();

  /** Writes one effect row per application, with no unique key: only the inbox keeps it single. */
  const handler: MessageHandler<Session> = {
    async handle(session: Session, message: InboundMessage): Promise<void> {
      if (refused.has(message.id)) throw new RejectedMessageError('refused by the ward');
      await session.query('INSERT INTO administrations (message_id, consumer) VALUES ($1, $2)', [
        message.id,
        (message.payload as { consumer?: string }).consumer ?? '',
      ]);
    },
  };
  const consumer = (name: string) =>
    new InboxConsumer(db, new PostgresInbox(), handler, { name, maxAttempts: 3 });

  let counter = 0;
  const inbound = (overrides: Partial<InboundMessage> = {}): InboundMessage => {
    counter += 1;
    return {
      id: `${namespace}-${counter}`,
      type: 'test.administration',
      gtid: `${namespace}-${counter}`,
      source: 'ward-app',
      payload: {},
      deliveryCount: 0,
      replayed: false,
      ...overrides,
    };
  };
  const effects = async (id: string) =>
    (await db.query('SELECT 1 FROM administrations WHERE message_id = $1', [id])).length;

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_outbox', [
      MessagingTables1763800000000,
      OutboxLeanIndexes1763800000300,
      OutboxUnroutable1763800000400,
      OutboxTraceContext1766600000000,
    ]);
    db = new Database(created.settings, 'inbox-edges-test');
    drop = created.drop;
    await db.query('CREATE TABLE administrations (message_id text NOT NULL, consumer text NOT NULL)');
  });

  afterAll(async () => {
    await db.close();
    await drop();
  });

  it('applies a message once for each of two consumers sharing a database', async () => {
    const message = inbound();
    const [ward, audit] = [consumer(`${namespace}-ward`), consumer(`${namespace}-audit`)];
    await expect(ward.process([message])).resolves.toEqual([{ kind: 'applied' }]);
    // The other consumer's inbox has not seen it: its own effect is applied too.
    await expect(audit.process([message])).resolves.toEqual([{ kind: 'applied' }]);
    await expect(ward.process([{ ...message, deliveryCount: 1 }])).resolves.toEqual([{ kind: 'duplicate' }]);
    expect(await effects(message.id)).toBe(2);
  });

  it('answers a redelivery of an applied message with duplicate at once, and changes nothing', async () => {
    const ward = consumer(`${namespace}-redelivery`);
    const message = inbound();
    await ward.process([message]);
    // Not a retry that collides with the inbox key: the inbox recognises it on its first look.
    await expect(ward.process([{ ...message, deliveryCount: 1 }])).resolves.toEqual([{ kind: 'duplicate' }]);
    expect(await effects(message.id)).toBe(1);
  });

  it('moves the aggregate’s cursor when it applies a message, so its successor is applied next', async () => {
    const name = `${namespace}-ordered`;
    const ward = consumer(name);
    const first = inbound({ aggregateId: 'bed-7', sequence: 1 });
    const second = inbound({ aggregateId: 'bed-7', sequence: 2 });
    await expect(ward.process([first])).resolves.toEqual([{ kind: 'applied' }]);
    const [cursor] = await db.query<{ last_sequence: string }>(
      'SELECT last_sequence FROM tx_inbox_cursor WHERE consumer = $1 AND aggregate_id = $2',
      [name, 'ward-app|bed-7'],
    );
    expect(Number(cursor?.last_sequence)).toBe(1);
    await expect(ward.process([second])).resolves.toEqual([{ kind: 'applied' }]);
  });

  it('waits for a predecessor another consumer is applying instead of counting it missing', async () => {
    const name = `${namespace}-failover`;
    let applying!: () => void;
    const secondApplying = new Promise<void>((resolve) => (applying = resolve));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    /** Holds the transaction applying sequence 2 open (with its aggregate's cursor locked) until released. */
    const slow: MessageHandler<Session> = {
      async handle(session, message) {
        await handler.handle(session, message);
        if (message.sequence === 2) {
          applying();
          await held;
        }
      },
    };
    // Another replica of the consumer, with its own connections (a failover, or a redelivery elsewhere).
    const otherDb = new Database(db.settings, 'inbox-edges-other');
    try {
      const [first, other] = [db, otherDb].map(
        (pool) =>
          new InboxConsumer(pool, new PostgresInbox(), slow, { name, maxAttempts: 3, gapPatience: 2 }),
      );
      await first.process([inbound({ aggregateId: 'bed-9', sequence: 1 })]);
      const applyingSecond = first.process([inbound({ aggregateId: 'bed-9', sequence: 2 })]);
      await secondApplying;
      // Its successor on its last delivery within patience: were sequence 2 counted missing, it would be
      // dead-lettered now although its predecessor is committing.
      const third = other.process([inbound({ aggregateId: 'bed-9', sequence: 3, deliveryCount: 1 })]);
      const waiting = eventually(
        async () =>
          (
            await db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            )
          )[0].n,
        (n) => n > 0,
        10_000,
      );
      await Promise.race([waiting, third]);
      release();
      await expect(applyingSecond).resolves.toEqual([{ kind: 'applied' }]);
      await expect(third).resolves.toEqual([{ kind: 'applied' }]);
    } finally {
      release();
      await otherDb.close();
    }
  });

  it('applies a replayed dead letter once, however often the replayed copy is delivered', async () => {
    const name = `${namespace}-replay`;
    const ward = consumer(name);
    const message = inbound();
    refused.add(message.id);
    await expect(ward.process([message])).resolves.toMatchObject([{ kind: 'dead-letter' }]);
    refused.delete(message.id);
    const replayed = { ...message, replayed: true };
    await expect(ward.process([replayed])).resolves.toEqual([{ kind: 'applied' }]);
    // The replayed copy delivered again (its acknowledgement was lost): the inbox now says applied.
    await expect(ward.process([{ ...replayed, deliveryCount: 1 }])).resolves.toEqual([{ kind: 'duplicate' }]);
    expect(await effects(message.id)).toBe(1);
    const [row] = await db.query<{ outcome: string }>(
      'SELECT outcome FROM tx_inbox WHERE consumer = $1 AND message_id = $2',
      [name, message.id],
    );
    expect(row?.outcome).toBe('applied');
  });

  it('applies a replayed dead letter once when two consumers take it at the same time', async () => {
    const name = `${namespace}-replay-race`;
    const message = inbound();
    refused.add(message.id);
    await expect(consumer(name).process([message])).resolves.toMatchObject([{ kind: 'dead-letter' }]);
    refused.delete(message.id);
    // Both consumers read the inbox (dead-lettered) and apply the effect before either records it.
    let arrived = 0;
    let bothIn: () => void = () => undefined;
    const together = new Promise<void>((resolve) => (bothIn = resolve));
    const gated: MessageHandler<Session> = {
      async handle(session, delivered) {
        await handler.handle(session, delivered);
        if ((arrived += 1) === 2) bothIn();
        await together;
      },
    };
    const racing = () => new InboxConsumer(db, new PostgresInbox(), gated, { name, maxAttempts: 3 });
    const replayed = { ...message, replayed: true };
    const dispositions = await Promise.all([racing().process([replayed]), racing().process([replayed])]);
    // One records it; the other finds it decided while it waited, rolls its effect back and is retried.
    expect(
      dispositions
        .flat()
        .map((d) => d.kind)
        .sort(),
    ).toEqual(['applied', 'retry']);
    expect(await effects(message.id)).toBe(1);
    await expect(consumer(name).process([{ ...replayed, deliveryCount: 1 }])).resolves.toEqual([
      { kind: 'duplicate' },
    ]);
    expect(await effects(message.id)).toBe(1);
  });
});
