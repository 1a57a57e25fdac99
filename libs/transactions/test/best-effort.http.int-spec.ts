import { INestApplication, Injectable } from '@nestjs/common';
import {
  BaseEnvironment,
  buildServiceConfig,
  createServiceApp,
  Database,
  PlatformModule,
} from '@hospital/platform';
import { FhirExceptionFilter } from '@hospital/fhir';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { eventually, freePort } from '@hospital/platform/testing/waiting';
import {
  BestEffortEnvironment,
  BestEffortErrorCode,
  BestEffortException,
  BestEffortModule,
  bestEffortMigrations,
  DeliveryResult,
  Notification,
  NotificationChannel,
  Notifications,
} from '@hospital/transactions';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * A service with best-effort notification as a real Nest app over HTTP and PostgreSQL: a notification to a
 * station that is down is attempted with back-off, dead-lettered, listed at `/api/notifications/dead-letters`
 * (never its payload), replayed and delivered; the station reconciles through `/api/notifications`; bad input
 * is a 400 problem document that changes nothing; the attempts show in `/metrics`.
 */
jest.setTimeout(60_000);

/** The monitoring station on the other side of the channel: up or down, de-duplicating by key. */
const station = { up: false, receipts: [] as string[], ledger: new Set<string>() };

@Injectable()
class StationChannel implements NotificationChannel {
  deliver(notification: Notification): Promise<DeliveryResult> {
    if (!station.up) return Promise.resolve({ kind: 'retryable', reason: 'station unreachable' });
    station.receipts.push(notification.idempotencyKey);
    station.ledger.add(notification.idempotencyKey);
    return Promise.resolve({ kind: 'delivered' });
  }
}

interface Answer<T> {
  status: number;
  type: string;
  body: T;
}

describe('/api/notifications over HTTP', () => {
  let drop: () => Promise<void>;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_best_effort', bestEffortMigrations);
    drop = created.drop;
    const port = await freePort();
    const config = buildServiceConfig(
      { name: 'ward-notifier', defaultPort: port },
      [...BaseEnvironment, BestEffortEnvironment],
      {
        ...process.env,
        PORT: String(port),
        PGDATABASE: created.settings.database,
        LOG_LEVEL: 'silent',
        NOTIFICATION_POLL_MS: '50',
        NOTIFICATION_MAX_ATTEMPTS: '2',
        NOTIFICATION_BASE_DELAY_MS: '10',
        NOTIFICATION_MAX_DELAY_MS: '50',
        NOTIFICATION_ATTEMPT_TIMEOUT_MS: '1000',
        NOTIFICATION_LEASE_MS: '2000',
      },
    );
    app = await createServiceApp(
      {
        module: class NotifierModule {},
        imports: [
          PlatformModule.forRoot(config),
          BestEffortModule.forRoot({ channels: [{ name: 'station', channel: StationChannel }] }),
        ],
      },
      config,
      { filters: [new FhirExceptionFilter()] },
    );
    await app.listen(port, '127.0.0.1');
    url = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await app?.close();
    await drop?.();
  });

  const call = async <T>(method: 'GET' | 'POST', path: string): Promise<Answer<T>> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: testAuthorizationFor(path) },
    });
    return {
      status: response.status,
      type: response.headers.get('content-type') ?? '',
      body: (await response.json()) as T,
    };
  };

  const write = async (key: string): Promise<Notification> => {
    const notifications = app.get(Notifications);
    const [written] = await app.get(Database).transaction((tx) =>
      notifications.append(tx, [
        {
          receiver: 'central-station',
          channel: 'station',
          type: 'news2.alert',
          payload: { bed: 7, key },
          idempotencyKey: key,
        },
      ]),
    );
    notifications.notify();
    return written;
  };

  it('dead-letters a notification the station never took, lists it without its payload, and delivers it after a replay', async () => {
    const written = await write('alert-1');
    const dead = await eventually(
      () =>
        call<{ id: string; attempts: number; lastError: string }[]>('GET', '/api/notifications/dead-letters'),
      (answer) => answer.body.length === 1,
    );
    expect(dead.status).toBe(200);
    expect(dead.body).toEqual([
      expect.objectContaining({
        id: written.id,
        idempotencyKey: 'alert-1',
        receiver: 'central-station',
        attempts: 2,
      }),
    ]);
    expect(dead.body[0].lastError).toMatch(/^gave up after 2 attempts: station unreachable/);
    expect(dead.body[0]).not.toHaveProperty('payload');

    const detail = await call<{ state: string; attemptRecords: { outcome: string }[] }>(
      'GET',
      `/api/notifications/${written.id}`,
    );
    expect(detail.body.state).toBe('dead-lettered');
    expect(detail.body.attemptRecords.map((a) => a.outcome)).toEqual(['failed', 'failed']);
    expect(detail.body).not.toHaveProperty('payload');
    expect(station.receipts).toEqual([]);

    station.up = true;
    const replayed = await call<{ id: string; replayed: boolean }>(
      'POST',
      `/api/notifications/dead-letters/${written.id}/replay`,
    );
    expect(replayed).toMatchObject({ status: 200, body: { id: written.id, replayed: true } });
    const delivered = await eventually(
      () =>
        call<{ state: string; attempts: number; replays: number }>('GET', `/api/notifications/${written.id}`),
      (answer) => answer.body.state === 'delivered',
    );
    expect(delivered.body).toMatchObject({ state: 'delivered', attempts: 3, replays: 1 });
    expect([...station.ledger]).toEqual(['alert-1']);
    expect((await call<unknown[]>('GET', '/api/notifications/dead-letters')).body).toEqual([]);

    // Replaying what is not a dead letter, or what does not exist, is refused and changes nothing.
    const again = await call<{ code: string; status: number }>(
      'POST',
      `/api/notifications/dead-letters/${written.id}/replay`,
    );
    expect(again.status).toBe(409);
    expect(again.type).toContain('application/problem+json');
    expect(again.body).toMatchObject({ status: 409, code: BestEffortErrorCode.NotDeadLettered });
    const unknown = await call<{ code: string }>('POST', '/api/notifications/dead-letters/no-such-id/replay');
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe(BestEffortErrorCode.UnknownNotification);
    expect((await call<{ code: string }>('GET', '/api/notifications/no-such-id')).status).toBe(404);
    expect((await call<{ state: string }>('GET', `/api/notifications/${written.id}`)).body.state).toBe(
      'delivered',
    );

    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(
      /hospital_notification_attempts_total\{[^}]*channel="station"[^}]*outcome="failed"[^}]*\} 2/,
    );
    expect(metrics).toMatch(/hospital_notifications_dead_lettered_total\{[^}]*channel="station"[^}]*\} 1/);
    expect(metrics).toMatch(/hospital_notifications_delivered_total\{[^}]*channel="station"[^}]*\} 1/);
    expect(metrics).toMatch(/hospital_notification_dead_letters\{[^}]*\} 0/);
  });

  it('lets the station reconcile what it should have received, with payloads, page by page', async () => {
    station.up = true;
    await write('alert-2');
    await write('alert-3');
    const first = await eventually(
      () =>
        call<{ notifications: { idempotencyKey: string; payload: unknown; state: string }[]; next: string }>(
          'GET',
          '/api/notifications?receiver=central-station&limit=2',
        ),
      (answer) => answer.body.notifications.length === 2,
    );
    expect(first.status).toBe(200);
    // Numbered for reconciliation in position order, except a row a dispatcher holds at that moment
    // (delivering it), which is numbered by a later pass: every one comes, order is not promised.
    const firstPage = first.body.notifications.map((n) => n.idempotencyKey);
    expect(firstPage).toContain('alert-1');
    const alert1 = first.body.notifications.find((n) => n.idempotencyKey === 'alert-1');
    expect(alert1?.payload).toEqual({ bed: 7, key: 'alert-1' });
    const rest = await eventually(
      () =>
        call<{ notifications: { idempotencyKey: string }[]; next: string }>(
          'GET',
          `/api/notifications?receiver=central-station&since=${encodeURIComponent(first.body.next)}`,
        ),
      (answer) => answer.body.notifications.length === 1,
    );
    const restPage = rest.body.notifications.map((n) => n.idempotencyKey);
    expect([...firstPage, ...restPage].sort()).toEqual(['alert-1', 'alert-2', 'alert-3']);
    const nobody = await call<{ notifications: unknown[] }>('GET', '/api/notifications?receiver=nobody');
    expect(nobody.body.notifications).toEqual([]);
    const fromTime = await call<{ notifications: unknown[] }>(
      'GET',
      `/api/notifications?receiver=central-station&since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
    );
    expect(fromTime.body.notifications).toEqual([]);
  });

  it.each([
    ['no receiver', '/api/notifications', undefined],
    ['a receiver with spaces', '/api/notifications?receiver=a%20b', undefined],
    ['a limit of 0', '/api/notifications?receiver=central-station&limit=0', undefined],
    ['a limit that is not a number', '/api/notifications?receiver=central-station&limit=ten', undefined],
    ['an unknown parameter', '/api/notifications?receiver=central-station&page=2', undefined],
    [
      'a cursor this service never handed out',
      '/api/notifications?receiver=central-station&since=yesterday',
      BestEffortErrorCode.InvalidCursor,
    ],
    ['a dead-letter limit of 5000', '/api/notifications/dead-letters?limit=5000', undefined],
  ])('answers %s with a 400 problem document', async (_what, path, code) => {
    const answer = await call<{ status: number; code?: string; detail: string }>('GET', path);
    expect(answer.status).toBe(400);
    expect(answer.type).toContain('application/problem+json');
    expect(answer.body.status).toBe(400);
    if (code) expect(answer.body.code).toBe(code);
  });

  it('refuses to write a notification for a channel the service did not configure', async () => {
    const notifications = app.get(Notifications);
    const db = app.get(Database);
    const before = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM tx_notification');
    await expect(
      db.transaction((tx) =>
        notifications.append(tx, [
          { receiver: 'central-station', channel: 'pager', type: 'news2.alert', payload: {} },
        ]),
      ),
    ).rejects.toThrow(BestEffortException);
    expect(await db.query<{ n: number }>('SELECT count(*)::int AS n FROM tx_notification')).toEqual(before);
  });
});
