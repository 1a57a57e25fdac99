import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  bestEffortMigrations,
  ClaimedAttempt,
  ListedTransaction,
  NewNotification,
  PostgresNotificationBrowser,
  PostgresNotificationStore,
} from '@hospital/transactions';

/**
 * `/api/transactions` over the best-effort notification log, against the real PostgreSQL: notifications
 * written and attempted through the PostgreSQL store as its dispatchers do (delivered on a second attempt,
 * dead-lettered on a rejection, two of one change with one still in flight) are listed one transaction per
 * gtid, with their state, each notification a branch, the timeline of its attempts oldest first, retries
 * and last error; the filters hold, and a correlation id finds none.
 */
jest.setTimeout(60_000);

describe('best-effort notification browser over PostgreSQL', () => {
  let drop: () => Promise<void>;
  let db: Database;
  let store: PostgresNotificationStore;
  let browser: PostgresNotificationBrowser;

  const write = (notifications: NewNotification[]) => db.transaction((tx) => store.append(tx, notifications));

  /** One claim of `channel`'s due notifications, as a dispatcher makes it. */
  const claim = async (channel: string): Promise<ClaimedAttempt[]> =>
    (
      await store.claim({
        dispatcher: `ward-notifier/${channel}`,
        channels: [channel],
        limit: 10,
        leaseMs: 60_000,
        maxAttempts: 5,
      })
    ).attempts;

  const alert = (gtid: string, receiver: string, channel: string): NewNotification => ({
    gtid,
    receiver,
    channel,
    type: 'vital-signs.alert',
    payload: { patient: 'Patient/pat-0001', news2: 7 },
  });

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_best_effort_browser', bestEffortMigrations);
    drop = created.drop;
    db = new Database({ ...created.settings, poolSize: 4 }, 'best-effort-browser-test');
    store = new PostgresNotificationStore(db);
    browser = new PostgresNotificationBrowser(db);

    await write([alert('be-delivered', 'monitoring-station', 'station-http')]);
    const [first] = await claim('station-http');
    expect(await store.scheduleRetry(first, { outcome: 'failed', error: 'HTTP 503' }, 0)).toBe(true);
    const [second] = await claim('station-http');
    expect(second.number).toBe(2);
    await store.markDelivered(second);

    await write([alert('be-rejected', 'practitioner/7', 'sms')]);
    const [rejected] = await claim('sms');
    expect(await store.deadLetter(rejected, { outcome: 'rejected', error: 'unknown number' })).toBe(true);

    await write([
      alert('be-pending', 'practitioner/9', 'email'),
      alert('be-pending', 'ward-3a', 'station-http'),
    ]);
    const [mail] = await claim('email');
    await store.markDelivered(mail);
    // The station's attempt is begun and never ends while the spec looks: in flight.
    expect(await claim('station-http')).toHaveLength(1);
  });

  afterAll(async () => {
    await store?.close();
    await db?.close();
    await drop?.();
  });

  const events = (record: ListedTransaction | undefined) => record?.timeline.map((entry) => entry.event);

  it('lists a notification delivered on its second attempt: the failed one in the timeline, a retry', async () => {
    const record = await browser.get('be-delivered');
    expect(record).toMatchObject({
      gtid: 'be-delivered',
      style: 'best-effort',
      state: 'delivered',
      branches: [{ participant: 'monitoring-station', step: 'station-http', state: 'delivered' }],
      retries: 1,
    });
    expect(record?.lastError).toBeUndefined();
    expect(record?.correlationId).toBeUndefined();
    expect(events(record)).toEqual([
      'written: vital-signs.alert for monitoring-station via station-http',
      'attempt 1 failed: HTTP 503',
      'delivered (attempt 2)',
    ]);
    expect(record?.updatedAt).toBe(record?.timeline[2].at);
  });

  it('lists a rejected notification dead-lettered, with the rejection as its reason', async () => {
    const record = await browser.get('be-rejected');
    expect(record).toMatchObject({
      state: 'dead-lettered',
      branches: [
        { participant: 'practitioner/7', step: 'sms', state: 'dead-lettered', reason: 'unknown number' },
      ],
      retries: 0,
      lastError: 'unknown number',
    });
    expect(events(record)).toEqual([
      'written: vital-signs.alert for practitioner/7 via sms',
      'attempt 1 rejected: unknown number',
      'dead-lettered: unknown number',
    ]);
  });

  it('lists the notifications of one change as one transaction, pending while one of them is', async () => {
    const record = await browser.get('be-pending');
    expect(record).toMatchObject({
      state: 'pending',
      branches: [
        { participant: 'practitioner/9', step: 'email', state: 'delivered' },
        { participant: 'ward-3a', step: 'station-http', state: 'pending' },
      ],
      retries: 0,
    });
    expect(events(record)).toEqual([
      'practitioner/9 via email: written: vital-signs.alert',
      'ward-3a via station-http: written: vital-signs.alert',
      'practitioner/9 via email: delivered (attempt 1)',
      'ward-3a via station-http: attempt 1 in flight',
    ]);
    const instants = record?.timeline.map((entry) => Date.parse(entry.at)) ?? [];
    expect(instants).toEqual([...instants].sort((a, b) => a - b));
    expect(record?.createdAt).toBe(record?.timeline[0].at);
  });

  it('lists newest first and filters by style, state, before and limit in SQL; a correlation id finds none', async () => {
    const all = await browser.list({ limit: 50 });
    expect(all.map((r) => r.gtid)).toEqual(['be-pending', 'be-rejected', 'be-delivered']);
    expect(all[0].branches).toHaveLength(2);
    expect(await browser.list({ limit: 50, style: 'message' })).toEqual([]);
    expect((await browser.list({ limit: 50, style: 'best-effort' })).length).toBe(3);
    expect((await browser.list({ limit: 50, state: 'pending' })).map((r) => r.gtid)).toEqual(['be-pending']);
    expect((await browser.list({ limit: 50, state: 'delivered' })).map((r) => r.gtid)).toEqual([
      'be-delivered',
    ]);
    expect((await browser.list({ limit: 50, state: 'dead-lettered' })).map((r) => r.gtid)).toEqual([
      'be-rejected',
    ]);
    expect(await browser.list({ limit: 50, correlationId: 'be-pending' })).toEqual([]);
    const before = all.find((r) => r.gtid === 'be-rejected')?.createdAt;
    expect((await browser.list({ limit: 50, before })).map((r) => r.gtid)).toEqual(['be-delivered']);
    expect((await browser.list({ limit: 1 })).map((r) => r.gtid)).toEqual(['be-pending']);
    expect((await browser.list({ limit: 1 }))[0].branches).toHaveLength(2);
    expect(await browser.get('no-such-gtid')).toBeUndefined();
    expect(JSON.stringify(all)).not.toContain('pat-0001');
  });
});
