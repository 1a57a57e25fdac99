import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  ListedTransaction,
  MessageServerTables1763800000100,
  MessageTraceContext1766600000200,
  MessageTransactionServer,
  PostgresMessageBrowser,
  PostgresMessageServerStore,
  PreparedMessage,
} from '@hospital/transactions';
import { DirectCheckBackClient, RecordingPublisher } from '@hospital/transactions/testing';

/**
 * `/api/transactions` over the two-phase message server's table, against the real PostgreSQL: messages
 * driven through the server core and its PostgreSQL store (delivered, aborted by their producer, published
 * after the broker once did not confirm, left prepared while their producer cannot be asked back, delivered
 * on a check-back) are listed with their state, the producer's and the broker's branches, the timeline the
 * row can tell, retries and last error; the filters hold, and a correlation id finds none.
 */
jest.setTimeout(60_000);

const PRODUCER = 'ward-supply';

describe('two-phase message browser over PostgreSQL', () => {
  let drop: () => Promise<void>;
  let db: Database;
  let browser: PostgresMessageBrowser;
  let server: MessageTransactionServer;
  const publisher = new RecordingPublisher();
  const checkBack = new DirectCheckBackClient();
  /** The producer's barrier: the local transactions that committed. */
  const committed = new Set<string>();

  const message = (gtid: string): PreparedMessage => ({
    gtid,
    id: gtid,
    producer: PRODUCER,
    checkBackUrl: 'http://127.0.0.1:4849',
    exchange: 'ward-supply',
    routingKey: 'purchase-order.placed',
    type: 'purchase-order.placed',
    aggregateId: `PurchaseOrder/${gtid}`,
    payload: { medication: 'amoxicillin 500 mg', quantity: 200 },
  });

  /** Recovery sweeps until `gtid`'s record satisfies `done` (each sweep takes only what is due). */
  const recoverUntil = async (
    gtid: string,
    done: (record: ListedTransaction | undefined) => boolean,
  ): Promise<ListedTransaction | undefined> => {
    for (let round = 0; round < 100 && !done(await browser.get(gtid)); round += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await server.recover();
    }
    return browser.get(gtid);
  };
  const inState = (state: string) => (record: ListedTransaction | undefined) => record?.state === state;

  const gtids = {
    delivered: 'msg-delivered',
    aborted: 'msg-aborted',
    republished: 'msg-republished',
    unanswered: 'msg-unanswered',
    checkedBack: 'msg-checked-back',
  };
  let submitted: ListedTransaction | undefined;
  let unanswered: ListedTransaction | undefined;

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_message_browser', [
      MessageServerTables1763800000100,
      MessageTraceContext1766600000200,
    ]);
    drop = created.drop;
    db = new Database({ ...created.settings, poolSize: 4 }, 'message-browser-test');
    browser = new PostgresMessageBrowser(db);
    server = new MessageTransactionServer(new PostgresMessageServerStore(db), publisher, checkBack, {
      checkBackAfterMs: 100,
      publishLeaseMs: 30_000,
      retryBaseMs: 1,
      retryMaxMs: 5,
    });
    checkBack.producers.set(PRODUCER, {
      outcome: (gtid) => Promise.resolve(committed.has(gtid) ? 'committed' : 'aborted'),
    });

    await server.prepare(message(gtids.delivered));
    expect(await server.submit(gtids.delivered, PRODUCER)).toBe('delivered');

    await server.prepare(message(gtids.aborted));
    expect(await server.abort(gtids.aborted, PRODUCER)).toBe('aborted');

    await server.prepare(message(gtids.republished));
    publisher.failNext = 1;
    expect(await server.submit(gtids.republished, PRODUCER)).toBe('submitted');
    submitted = await browser.get(gtids.republished);

    await server.prepare(message(gtids.unanswered));
    checkBack.down.add(PRODUCER);
    unanswered = await recoverUntil(gtids.unanswered, (record) => (record?.retries ?? 0) >= 2);
    checkBack.down.delete(PRODUCER);

    await server.prepare(message(gtids.checkedBack));
    committed.add(gtids.checkedBack);
    await recoverUntil(gtids.checkedBack, inState('delivered'));
    await recoverUntil(gtids.republished, inState('delivered'));
    // Asked back again now the producer answers: its local transaction never committed.
    await recoverUntil(gtids.unanswered, inState('aborted'));
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  const events = (record: ListedTransaction | undefined) => record?.timeline.map((entry) => entry.event);
  const prepared = 'prepared by ward-supply: purchase-order.placed for ward-supply purchase-order.placed';

  it('lists a delivered message: the producer committed, the broker has it', async () => {
    const record = await browser.get(gtids.delivered);
    expect(record).toMatchObject({
      gtid: gtids.delivered,
      style: 'message',
      state: 'delivered',
      branches: [
        { participant: PRODUCER, state: 'committed' },
        { participant: 'ward-supply', step: 'purchase-order.placed', state: 'delivered' },
      ],
      retries: 0,
    });
    expect(record?.lastError).toBeUndefined();
    expect(events(record)).toEqual([prepared, 'delivered']);
  });

  it('lists a message its producer aborted, with the reason', async () => {
    const record = await browser.get(gtids.aborted);
    expect(record).toMatchObject({
      state: 'aborted',
      branches: [
        { participant: PRODUCER, state: 'aborted' },
        { participant: 'ward-supply', state: 'not published' },
      ],
      lastError: 'aborted by its producer',
    });
    expect(events(record)).toEqual([prepared, 'aborted: aborted by its producer']);
  });

  it('lists a message the broker did not confirm: submitted with its retry, then delivered by recovery', async () => {
    expect(submitted).toMatchObject({
      state: 'submitted',
      branches: [
        { participant: PRODUCER, state: 'committed' },
        { participant: 'ward-supply', state: 'publishing' },
      ],
      retries: 1,
      lastError: 'publish: broker did not confirm',
    });
    expect(events(submitted)).toEqual([prepared, 'submitted; publishing after 1 retried call(s)']);
    const record = await browser.get(gtids.republished);
    expect(record).toMatchObject({ state: 'delivered', retries: 1 });
    expect(events(record)).toEqual([prepared, 'delivered after 1 retried call(s)']);
    expect(publisher.count(gtids.republished)).toBe(1);
  });

  it('lists a message whose producer could not be asked back: prepared, the failed check-backs counted, then aborted', async () => {
    expect(unanswered?.state).toBe('prepared');
    expect(unanswered?.branches.map((b) => b.state)).toEqual(['pending', 'pending']);
    expect(unanswered?.retries).toBe(2);
    expect(unanswered?.lastError).toBe(`check-back: connection to ${PRODUCER} refused`);
    expect(events(unanswered)).toEqual([prepared, 'check-back failed 2 time(s); still prepared']);
    const record = await browser.get(gtids.unanswered);
    expect(record).toMatchObject({
      state: 'aborted',
      retries: 2,
      lastError: 'check-back: the local transaction did not commit',
    });
    expect(events(record)).toEqual([
      prepared,
      'aborted after 2 retried call(s): check-back: the local transaction did not commit',
    ]);
  });

  it('lists a message delivered on a check-back that found its local transaction committed', async () => {
    const record = await browser.get(gtids.checkedBack);
    expect(record).toMatchObject({ state: 'delivered', retries: 0 });
    expect(events(record)).toEqual([prepared, 'delivered']);
    const instants = record?.timeline.map((entry) => Date.parse(entry.at)) ?? [];
    expect(instants[1]).toBeGreaterThanOrEqual(instants[0]);
  });

  it('lists newest first and filters by style, state, before and limit in SQL; a correlation id finds none', async () => {
    const all = await browser.list({ limit: 50 });
    expect(all.map((r) => r.gtid)).toEqual([
      gtids.checkedBack,
      gtids.unanswered,
      gtids.republished,
      gtids.aborted,
      gtids.delivered,
    ]);
    expect(await browser.list({ limit: 50, style: 'outbox' })).toEqual([]);
    expect((await browser.list({ limit: 50, style: 'message' })).length).toBe(5);
    expect((await browser.list({ limit: 50, state: 'aborted' })).map((r) => r.gtid)).toEqual([
      gtids.unanswered,
      gtids.aborted,
    ]);
    expect((await browser.list({ limit: 50, state: 'delivered' })).map((r) => r.gtid)).toEqual([
      gtids.checkedBack,
      gtids.republished,
      gtids.delivered,
    ]);
    expect(await browser.list({ limit: 50, correlationId: gtids.delivered })).toEqual([]);
    const before = all.find((r) => r.gtid === gtids.republished)?.createdAt;
    expect((await browser.list({ limit: 50, before })).map((r) => r.gtid)).toEqual([
      gtids.aborted,
      gtids.delivered,
    ]);
    expect((await browser.list({ limit: 2 })).map((r) => r.gtid)).toEqual([
      gtids.checkedBack,
      gtids.unanswered,
    ]);
    expect(await browser.get('no-such-message')).toBeUndefined();
    expect(JSON.stringify(all)).not.toContain('amoxicillin');
  });
});
