import { Database, Session } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { eventually } from '@hospital/platform/testing/waiting';
import {
  backoffBounds,
  BestEffortDispatcher,
  bestEffortMigrations,
  DeliveryPolicy,
  DeliveryResult,
  InvalidCursorError,
  NewNotification,
  Notification,
  NotificationChannel,
  PostgresNotificationStore,
  ProtocolPoint,
} from '@hospital/transactions';

/**
 * The best-effort notification log against the real PostgreSQL: a notification exists only if the change
 * that wrote it committed; two dispatchers (replicas) over one table deliver each notification through a
 * flaky channel without ever holding it at once; a dispatcher that dies mid-attempt leaves it to another
 * after the lease; an exhausted one lands in the dead letters and is delivered after a replay; and a
 * receiver reconciles page by page without missing one whose transaction commits after it read later ones.
 */
jest.setTimeout(60_000);

/** A receiver that records every delivery and keeps a ledger de-duplicated by idempotency key. */
class Station {
  readonly receipts: string[] = [];
  readonly ledger = new Set<string>();

  receive(notification: Notification): void {
    this.receipts.push(notification.idempotencyKey);
    this.ledger.add(notification.idempotencyKey);
  }
}

const policy = (overrides: Partial<DeliveryPolicy> = {}): DeliveryPolicy => ({
  batchSize: 10,
  pollMs: 50,
  leaseMs: 2_000,
  attemptTimeoutMs: 1_000,
  maxAttempts: 20,
  backoff: { baseDelayMs: 5, maxDelayMs: 50, jitter: 'full' },
  ...overrides,
});

/** A deterministic sequence in [0, 1). */
function sequence(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

describe('best-effort notification over PostgreSQL', () => {
  let drop: () => Promise<void>;
  let db: Database;
  let store: PostgresNotificationStore;

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_best_effort', bestEffortMigrations);
    drop = created.drop;
    db = new Database(created.settings, 'best-effort-test');
    store = new PostgresNotificationStore(db);
  });

  afterAll(async () => {
    await store?.close();
    await db?.close();
    await drop?.();
  });

  const note = (receiver: string, key: string, channel = 'station'): NewNotification => ({
    receiver,
    channel,
    type: 'test.alert',
    payload: { key },
    idempotencyKey: key,
  });

  const append = (items: NewNotification[]): Promise<Notification[]> =>
    db.transaction((tx) => store.append(tx, items));

  const stateOf = async (id: string): Promise<string | undefined> => (await store.find(id))?.state;

  it('leaves nothing to deliver when the change that wrote the notification rolls back', async () => {
    const rolledBack = db.transaction(async (tx: Session) => {
      await store.append(tx, [note('rollback-station', 'rb-1'), note('rollback-station', 'rb-2')]);
      throw new Error('the change failed');
    });
    await expect(rolledBack).rejects.toThrow('the change failed');
    const claim = { dispatcher: 'd', channels: ['rollback'], limit: 10, leaseMs: 1_000, maxAttempts: 3 };
    expect((await store.claim(claim)).attempts).toEqual([]);

    // The same write committed is there to deliver (so the empty claim above meant something).
    const [committed] = await append([note('rollback-station', 'rb-3', 'rollback')]);
    const claimed = await store.claim(claim);
    expect(claimed.attempts.map((a) => a.notification.idempotencyKey)).toEqual(['rb-3']);
    await store.markDelivered(claimed.attempts[0]);
    expect(await stateOf(committed.id)).toBe('delivered');
    const keys = await db.query<{ idempotency_key: string }>(
      `SELECT idempotency_key FROM tx_notification WHERE receiver = 'rollback-station'`,
    );
    expect(keys.map((k) => k.idempotency_key)).toEqual(['rb-3']);
  });

  it('ends a later claim’s open attempt when an earlier attempt, past its lease, records the delivery', async () => {
    const [written] = await append([note('late-station', 'late-1', 'late')]);
    const claim = { dispatcher: 'd1', channels: ['late'], limit: 10, leaseMs: 100, maxAttempts: 5 };
    const [first] = (await store.claim(claim)).attempts;
    await new Promise((resolve) => setTimeout(resolve, 150));
    // d1 stalled past its lease; d2 claims again (attempt 2) and then stops without recording anything.
    const [second] = (await store.claim({ ...claim, dispatcher: 'd2' })).attempts;
    expect(second.number).toBe(2);
    await store.markDelivered(first);
    const attempts = await db.query<{ attempt: number; outcome: string | null; error: string | null }>(
      `SELECT attempt, outcome, error FROM tx_notification_attempt WHERE notification_id = $1 ORDER BY attempt`,
      [written.id],
    );
    expect(attempts).toEqual([
      { attempt: 1, outcome: 'delivered', error: null },
      { attempt: 2, outcome: 'abandoned', error: 'the notification was delivered by attempt 1' },
    ]);
    // A dispatcher still running records its own outcome over it.
    await store.markDelivered(second);
    const [again] = await db.query<{ outcome: string }>(
      `SELECT outcome FROM tx_notification_attempt WHERE notification_id = $1 AND attempt = 2`,
      [written.id],
    );
    expect(again.outcome).toBe('delivered');
    expect(await stateOf(written.id)).toBe('delivered');
  });

  it('delivers every notification through two dispatchers and a flaky channel, never claimed twice within a lease', async () => {
    // Any change of lease while an unexpired one is held means a second claim took the notification.
    await db.query(`CREATE TABLE double_claims (id text NOT NULL, old_owner text, new_owner text)`);
    await db.query(`CREATE FUNCTION note_double_claim() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO double_claims VALUES (OLD.id, OLD.lease_owner, NEW.lease_owner); RETURN NEW; END $$`);
    await db.query(`CREATE TRIGGER double_claim BEFORE UPDATE OF lease_token ON tx_notification
        FOR EACH ROW WHEN (OLD.lease_token IS NOT NULL AND NEW.lease_token IS NOT NULL
                           AND OLD.lease_until > clock_timestamp())
        EXECUTE FUNCTION note_double_claim()`);

    const station = new Station();
    const inFlight = new Set<string>();
    const overlaps: string[] = [];
    let calls = 0;
    const random = sequence(7);
    const flaky: NotificationChannel = {
      async deliver(notification: Notification): Promise<DeliveryResult> {
        calls += 1;
        if (inFlight.has(notification.id)) overlaps.push(notification.id);
        inFlight.add(notification.id);
        try {
          await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 5)));
          const roll = random();
          if (roll < 0.3) return { kind: 'retryable', reason: 'station busy' };
          if (roll < 0.4) throw new Error('connection refused');
          station.receive(notification);
          // The station got it, but the answer is lost on the way back: it will come again.
          if (roll < 0.5) throw new Error('connection reset after the request was sent');
          return { kind: 'delivered' };
        } finally {
          inFlight.delete(notification.id);
        }
      },
    };
    const stores = [new PostgresNotificationStore(db), new PostgresNotificationStore(db)];
    const dispatchers = stores.map(
      (s, i) => new BestEffortDispatcher(s, { flaky }, { ...policy(), name: `replica-${i}` }),
    );
    dispatchers.forEach((d) => d.start());

    // Four producers append while the dispatchers run: 200 notifications in 40 transactions.
    const written: Notification[] = [];
    await Promise.all(
      [0, 1, 2, 3].map(async (producer) => {
        for (let t = 0; t < 10; t += 1) {
          const items = Array.from({ length: 5 }, (_, k) =>
            note('flaky-station', `f${producer}.${t}.${k}`, 'flaky'),
          );
          written.push(...(await db.transaction((tx) => stores[producer % 2].append(tx, items))));
          stores[producer % 2].notify();
        }
      }),
    );
    const states = await eventually(
      () =>
        db.query<{ state: string; n: number }>(
          `SELECT state, count(*)::int AS n FROM tx_notification WHERE channel = 'flaky' GROUP BY state`,
        ),
      (rows) => rows.length === 1 && rows[0].state === 'delivered',
      30_000,
    );
    await Promise.all(dispatchers.map((d) => d.stop()));
    await Promise.all(stores.map((s) => s.close()));

    expect(states).toEqual([{ state: 'delivered', n: 200 }]);
    expect(await db.query('SELECT * FROM double_claims')).toEqual([]);
    expect(overlaps).toEqual([]);
    // Every key in the station's de-duplicated ledger, at least once received; some more than once.
    expect([...station.ledger].sort()).toEqual(written.map((n) => n.idempotencyKey).sort());
    expect(station.receipts.length).toBeGreaterThan(station.ledger.size);
    // Every attempt recorded with its outcome, one per delivery tried; exactly one delivered per notification.
    const attempts = await db.query<{ outcome: string | null; n: number }>(
      `SELECT a.outcome, count(*)::int AS n FROM tx_notification_attempt a
         JOIN tx_notification n ON n.id = a.notification_id WHERE n.channel = 'flaky'
        GROUP BY a.outcome ORDER BY a.outcome`,
    );
    expect(attempts.reduce((sum, a) => sum + a.n, 0)).toBe(calls);
    expect(attempts.find((a) => a.outcome === 'delivered')?.n).toBe(200);
    expect(attempts.filter((a) => a.outcome === null || a.outcome === 'abandoned')).toEqual([]);
    expect(attempts.find((a) => a.outcome === 'failed')?.n).toBeGreaterThan(0);
  });

  it('retries after the lease a notification whose dispatcher died mid-attempt, recording the attempt abandoned', async () => {
    const station = new Station();
    const channel: NotificationChannel = {
      deliver: (notification) => {
        station.receive(notification);
        return Promise.resolve({ kind: 'delivered' });
      },
    };
    class Died extends Error {}
    // Dies right after the station answered delivered, before recording anything.
    const dying = (point: ProtocolPoint): void => {
      if (point === 'best-effort.dispatcher.after-delivery') throw new Died('killed mid-attempt');
    };
    const leaseMs = 1_500;
    const first = new BestEffortDispatcher(
      store,
      { mortal: channel },
      {
        ...policy({ leaseMs, attemptTimeoutMs: 1_000 }),
        name: 'first',
        points: dying,
      },
    );
    const second = new BestEffortDispatcher(
      store,
      { mortal: channel },
      {
        ...policy({ leaseMs, attemptTimeoutMs: 1_000 }),
        name: 'second',
      },
    );
    const [written] = await append([note('mortal-station', 'm-1', 'mortal')]);

    const started = Date.now();
    await expect(first.dispatchBatch()).rejects.toThrow(Died);
    expect(station.receipts).toEqual(['m-1']);
    const held = await store.find(written.id);
    expect(held?.state).toBe('pending');
    expect(held?.attemptRecords).toEqual([expect.objectContaining({ number: 1, dispatcher: 'first' })]);
    expect(held?.attemptRecords[0].outcome).toBeUndefined();

    // While the lease holds, the other dispatcher does not get it.
    expect((await second.dispatchBatch()).attempted).toBe(0);
    const round = await eventually(
      () => second.dispatchBatch(),
      (r) => r.attempted === 1,
      10_000,
    );
    expect(round.attempted).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(leaseMs - 50);

    const detail = await store.find(written.id);
    expect(detail?.state).toBe('delivered');
    expect(detail?.attemptRecords.map((a) => [a.number, a.dispatcher, a.outcome])).toEqual([
      [1, 'first', 'abandoned'],
      [2, 'second', 'delivered'],
    ]);
    // Delivered twice; the station's ledger holds it once.
    expect(station.receipts).toEqual(['m-1', 'm-1']);
    expect([...station.ledger]).toEqual(['m-1']);
  });

  it('dead-letters an exhausted notification and a rejected one, lists them, and delivers them after a replay', async () => {
    const station = new Station();
    let healthy = false;
    const channel: NotificationChannel = {
      deliver: (notification) => {
        if (notification.idempotencyKey === 'x-rejected' && !healthy)
          return Promise.resolve({ kind: 'permanent', reason: 'no such pager' });
        if (!healthy) return Promise.resolve({ kind: 'retryable', reason: 'station down' });
        station.receive(notification);
        return Promise.resolve({ kind: 'delivered' });
      },
    };
    const backoff = { baseDelayMs: 20, maxDelayMs: 200, jitter: 'decorrelated' as const };
    const dispatcher = new BestEffortDispatcher(
      store,
      { exhaust: channel },
      {
        ...policy({ maxAttempts: 3, backoff }),
        name: 'exhauster',
      },
    );
    const [exhausted, rejected] = await append([
      note('exhaust-station', 'x-exhausted', 'exhaust'),
      note('exhaust-station', 'x-rejected', 'exhaust'),
    ]);
    const dead = await eventually(
      async () => {
        await dispatcher.dispatchBatch();
        return store.deadLetters(10, 'exhaust');
      },
      (list) => list.length === 2,
      10_000,
    );
    expect(dead.map((d) => [d.idempotencyKey, d.attempts])).toEqual([
      ['x-rejected', 1],
      ['x-exhausted', 3],
    ]);
    expect(dead[0].lastError).toBe('no such pager');
    expect(dead[1].lastError).toMatch(/^gave up after 3 attempts: station down/);
    expect(dead[0]).not.toHaveProperty('payload');

    // Every attempt recorded; each retry's delay within its bounds and honoured before the next attempt.
    const detail = await store.find(exhausted.id);
    expect(detail?.attemptRecords.map((a) => a.outcome)).toEqual(['failed', 'failed', 'failed']);
    const [a1, a2, a3] = detail?.attemptRecords ?? [];
    expect(a3.retryDelayMs).toBeUndefined();
    for (const [attempt, next, n] of [
      [a1, a2, 1],
      [a2, a3, 2],
    ] as const) {
      const { minMs, maxMs } = backoffBounds(n, backoff);
      expect(attempt.retryDelayMs).toBeGreaterThanOrEqual(minMs);
      expect(attempt.retryDelayMs).toBeLessThanOrEqual(maxMs);
      const gap = next.startedAt.getTime() - (attempt.finishedAt?.getTime() ?? 0);
      expect(gap).toBeGreaterThanOrEqual((attempt.retryDelayMs ?? 0) - 1);
    }

    expect(await store.replay('no-such-notification')).toBe('unknown');
    const [other] = await append([note('exhaust-station', 'x-other', 'elsewhere')]);
    expect(await store.replay(other.id)).toBe('not-dead-lettered');

    healthy = true;
    expect(await store.replay(exhausted.id)).toBe('replayed');
    expect(await store.replay(rejected.id)).toBe('replayed');
    expect(await store.replay(rejected.id)).toBe('not-dead-lettered');
    await eventually(
      async () => {
        await dispatcher.dispatchBatch();
        return Promise.all([stateOf(exhausted.id), stateOf(rejected.id)]);
      },
      (s) => s.every((state) => state === 'delivered'),
      10_000,
    );
    const replayed = await store.find(exhausted.id);
    expect(replayed).toMatchObject({ state: 'delivered', attempts: 4, replays: 1 });
    expect(replayed?.attemptRecords[3]).toMatchObject({ number: 4, outcome: 'delivered' });
    expect(await store.deadLetters(10, 'exhaust')).toEqual([]);
    expect([...station.ledger].sort()).toEqual(['x-exhausted', 'x-rejected']);
  });

  it('reconciles page by page without skipping a notification whose transaction commits after a later one was read', async () => {
    const receiver = 'reconciling-station';
    const [before] = await append([note(receiver, 'r-0')]);
    // T1 writes first (the smaller position) and stays open; T2 writes after it and commits.
    const client = await db.pool.connect();
    let cursor: string;
    try {
      await client.query('BEGIN');
      await store.append(new Session(client), [note(receiver, 'r-1')]);
      await append([note(receiver, 'r-2'), note('someone-else', 'r-x')]);

      // The reader sees what committed, in the order it was numbered, never T1's.
      const open = await store.since(receiver, undefined, 10);
      expect(open.notifications.map((n) => n.idempotencyKey)).toEqual(['r-0', 'r-2']);
      expect(open.notifications[0]).toMatchObject({
        id: before.id,
        receiver,
        state: 'pending',
        payload: { key: 'r-0' },
      });
      cursor = open.next;
      expect((await store.since(receiver, cursor, 10)).notifications).toEqual([]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    // T1 committed after r-2 was read: the page from the cursor still brings it.
    const late = await store.since(receiver, cursor, 10);
    expect(late.notifications.map((n) => n.idempotencyKey)).toEqual(['r-1']);

    // Page by page from the start: everything once, in the same order; then an empty page keeps its place.
    await append([1, 2, 3, 4, 5].map((i) => note(receiver, `r-${i + 2}`)));
    const seen: string[] = [];
    let from: string | undefined;
    for (let page = 0; page < 10; page += 1) {
      const answer = await store.since(receiver, from, 2);
      seen.push(...answer.notifications.map((n) => n.idempotencyKey));
      from = answer.next;
      if (answer.notifications.length === 0) break;
    }
    expect(seen).toEqual(['r-0', 'r-2', 'r-1', 'r-3', 'r-4', 'r-5', 'r-6', 'r-7']);
    const empty = await store.since(receiver, from, 2);
    expect(empty.notifications).toEqual([]);
    await append([note(receiver, 'r-8')]);
    const later = await store.since(receiver, empty.next, 2);
    expect(later.notifications.map((n) => n.idempotencyKey)).toEqual(['r-8']);

    // From a time: what was written at or after it; an empty page from a time still gives a cursor to go on.
    const eight = later.notifications[0];
    const fromTime = await store.since(receiver, eight.createdAt, 10);
    expect(fromTime.notifications.map((n) => n.idempotencyKey)).toEqual(['r-8']);
    const future = await store.since(receiver, new Date(Date.now() + 60_000), 10);
    expect(future.notifications).toEqual([]);
    await append([note(receiver, 'r-9')]);
    expect((await store.since(receiver, future.next, 10)).notifications.map((n) => n.idempotencyKey)).toEqual(
      ['r-9'],
    );
    await expect(store.since(receiver, 'not-a-cursor', 10)).rejects.toThrow(InvalidCursorError);
  });

  it('numbers notifications for reconciliation one sequencer at a time, none twice', async () => {
    await append(Array.from({ length: 40 }, (_, i) => note('sequenced-station', `q-${i}`)));
    const numbered = await Promise.all([0, 1, 2, 3].map(() => store.sequence(7)));
    const [row] = await db.query<{ unnumbered: number; distinct: number; total: number }>(
      `SELECT count(*) FILTER (WHERE seq IS NULL)::int AS unnumbered, count(DISTINCT seq)::int AS distinct,
              count(seq)::int AS total FROM tx_notification`,
    );
    expect(row.unnumbered).toBe(0);
    expect(row.distinct).toBe(row.total);
    expect(numbered.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(40);

    // A sequencer at work (numbered A, not committed yet) holds the others back: a reader meanwhile does
    // not number B after A and hand out a cursor past A's number, which would skip A once it commits.
    const receiver = 'held-back-station';
    const start = (await store.since(receiver, undefined, 10)).next;
    await append([note(receiver, 'h-a')]);
    const sequencer = await db.pool.connect();
    try {
      await sequencer.query('BEGIN');
      await sequencer.query(`SELECT pg_advisory_xact_lock(hashtext('tx_notification_seq'))`);
      await sequencer.query(
        `UPDATE tx_notification SET seq = nextval('tx_notification_seq') WHERE idempotency_key = 'h-a'`,
      );
      await append([note(receiver, 'h-b')]);
      const meanwhile = await store.since(receiver, start, 10);
      expect(meanwhile.notifications).toEqual([]);
      await sequencer.query('COMMIT');
      const after = await store.since(receiver, meanwhile.next, 10);
      expect(after.notifications.map((n) => n.idempotencyKey)).toEqual(['h-a', 'h-b']);
    } finally {
      sequencer.release();
    }
  });
});
