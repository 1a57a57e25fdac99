import { INestApplication, Injectable } from '@nestjs/common';
import {
  BaseEnvironment,
  buildServiceConfig,
  createServiceApp,
  Database,
  PlatformModule,
} from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { testAuthorization, testAuthorizationFor } from '@hospital/platform/testing/access-token';
import {
  bestEffortMigrations,
  BestEffortEnvironment,
  BestEffortModule,
  defineSaga,
  defineTcc,
  DeliveryResult,
  ListedTransaction,
  NotificationChannel,
  Notifications,
  PostgresSagaLog,
  PostgresTccLog,
  PostgresTwoPhaseLog,
  SagaOrchestrator,
  sagaMigrations,
  TccCoordinator,
  tccLogMigrations,
  TransactionBrowsersModule,
  transactionLogMigrations,
  TwoPhaseCommitModule,
} from '@hospital/transactions';

/**
 * One `/api/transactions` per service over every log its modules keep, as real Nest apps over HTTP and
 * PostgreSQL: a service with a saga and TCC module (imported first), a 2PC coordinator and best-effort
 * notification registers the routes once, lists the four styles merged newest first, filters and limits
 * across them and finds any gtid, keeps the controller's validation and its administrators-only access,
 * and still serves `/api/transactions/in-doubt`; a service without 2PC answers 404 there.
 */
jest.setTimeout(60_000);

/** Ports of this spec (4800–4849): the two services, and one nobody listens on (the 2PC participant). */
const PORTS = { full: 4810, sagaOnly: 4811, nobody: 4849 };

@Injectable()
class StationChannel implements NotificationChannel {
  deliver(): Promise<DeliveryResult> {
    return Promise.resolve({ kind: 'delivered' });
  }
}

describe('/api/transactions over every log of a service', () => {
  let drop: () => Promise<void>;
  let db: Database;
  let database = '';
  const apps: INestApplication[] = [];
  const url = (port: number) => `http://127.0.0.1:${port}`;
  const gtids = {
    aborted2pc: 'api-2pc-aborted',
    preparing2pc: 'api-2pc-preparing',
    saga: '',
    tcc: '',
    notification: 'api-notification',
  };

  async function start(name: string, port: number, imports: unknown[]): Promise<INestApplication> {
    const config = buildServiceConfig(
      { name, defaultPort: port, peers: { lis: url(PORTS.nobody) } },
      [...BaseEnvironment, BestEffortEnvironment],
      {
        ...process.env,
        PORT: String(port),
        PGDATABASE: database,
        LOG_LEVEL: 'silent',
        TX_RECOVERY_INTERVAL_MS: '0',
        NOTIFICATION_DISPATCHER: 'false',
      },
    );
    const app = await createServiceApp(
      {
        module: class TransactionsApiTestModule {},
        imports: [PlatformModule.forRoot(config), ...(imports as [])],
      },
      config,
    );
    await app.listen(port, '127.0.0.1');
    apps.push(app);
    return app;
  }

  beforeAll(async () => {
    const created = await createTestDatabase('txlib_transactions_api', [
      ...transactionLogMigrations,
      ...sagaMigrations,
      ...tccLogMigrations,
      ...bestEffortMigrations,
    ]);
    drop = created.drop;
    database = created.settings.database;
    db = new Database({ ...created.settings, poolSize: 4 }, 'transactions-api-test');
    const full = await start('ward-coordinator', PORTS.full, [
      TransactionBrowsersModule.forFeature(['saga', 'tcc']),
      TwoPhaseCommitModule.forFeature({ participants: ['lis'] }),
      BestEffortModule.forRoot({ channels: [{ name: 'station', channel: StationChannel }] }),
    ]);
    await start('care-team', PORTS.sagaOnly, [TransactionBrowsersModule.forFeature(['saga'])]);

    const twoPhase = new PostgresTwoPhaseLog(db);
    await twoPhase.begin(gtids.aborted2pc, ['lis'], 'ward-request-1');
    await twoPhase.decideAbort(gtids.aborted2pc, 'lis voted no', [{ participant: 'lis', state: 'refused' }]);
    await twoPhase.complete(gtids.aborted2pc, 'abort', [{ participant: 'lis', state: 'aborted' }]);
    const saga = defineSaga<unknown>('treatment-plan', [
      { name: 'appointments', action: () => Promise.resolve(1), compensate: () => Promise.resolve() },
    ]);
    gtids.saga = (
      await new SagaOrchestrator(new PostgresSagaLog(db), [saga], { name: 'replica-a' }).start(saga, {})
    ).gtid;
    const tcc = defineTcc<unknown>('treatment-plan', [
      {
        name: 'pharmacy',
        try: () => Promise.resolve(),
        confirm: () => Promise.resolve(),
        cancel: () => Promise.resolve(),
      },
    ]);
    gtids.tcc = (
      await new TccCoordinator(new PostgresTccLog(db), [tcc], { name: 'replica-a' }).run(tcc, {})
    ).gtid;
    await db.transaction((tx) =>
      full.get(Notifications).append(tx, [
        {
          gtid: gtids.notification,
          receiver: 'monitoring-station',
          channel: 'station',
          type: 'alert',
          payload: {},
        },
      ]),
    );
    await twoPhase.begin(gtids.preparing2pc, ['lis']);
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await db?.close();
    await drop?.();
  });

  const get = async <T>(port: number, path: string, authorization = testAuthorizationFor(path)) => {
    const response = await fetch(`${url(port)}${path}`, { headers: { authorization } });
    return { status: response.status, body: (await response.json()) as T };
  };
  const list = async (query = '', port = PORTS.full) => {
    const answer = await get<ListedTransaction[]>(port, `/api/transactions${query}`);
    expect(answer.status).toBe(200);
    return answer.body;
  };

  it('lists every style of the service merged, newest createdAt first', async () => {
    const all = await list();
    expect(all.map((r) => r.gtid)).toEqual([
      gtids.preparing2pc,
      gtids.notification,
      gtids.tcc,
      gtids.saga,
      gtids.aborted2pc,
    ]);
    expect(all.map((r) => r.style)).toEqual(['2pc', 'best-effort', 'tcc', 'saga', '2pc']);
    const instants = all.map((r) => Date.parse(r.createdAt));
    expect(instants).toEqual([...instants].sort((a, b) => b - a));
  });

  it('filters and limits across the logs', async () => {
    expect((await list('?style=saga')).map((r) => r.gtid)).toEqual([gtids.saga]);
    expect((await list('?style=2pc')).map((r) => r.gtid)).toEqual([gtids.preparing2pc, gtids.aborted2pc]);
    expect((await list('?state=aborted')).map((r) => r.gtid)).toEqual([gtids.aborted2pc]);
    expect((await list('?state=confirmed')).map((r) => r.gtid)).toEqual([gtids.tcc]);
    expect((await list('?correlationId=ward-request-1')).map((r) => r.gtid)).toEqual([gtids.aborted2pc]);
    expect((await list('?limit=2')).map((r) => r.gtid)).toEqual([gtids.preparing2pc, gtids.notification]);
    const tcc = (await list()).find((r) => r.gtid === gtids.tcc);
    expect((await list(`?before=${tcc?.createdAt}`)).map((r) => r.gtid)).toEqual([
      gtids.saga,
      gtids.aborted2pc,
    ]);
  });

  it('finds a gtid in whichever log holds it', async () => {
    for (const [gtid, style, state] of [
      [gtids.aborted2pc, '2pc', 'aborted'],
      [gtids.saga, 'saga', 'completed'],
      [gtids.tcc, 'tcc', 'confirmed'],
      [gtids.notification, 'best-effort', 'pending'],
    ]) {
      const answer = await get<ListedTransaction>(PORTS.full, `/api/transactions/${gtid}`);
      expect(answer).toMatchObject({ status: 200, body: { gtid, style, state } });
    }
    expect((await get(PORTS.full, '/api/transactions/no-such-gtid')).status).toBe(404);
  });

  it('keeps the validation and the administrators-only access', async () => {
    for (const query of ['?style=bogus', '?limit=0', '?limit=501', '?before=yesterday', '?state=NOT_A_STATE'])
      expect((await get(PORTS.full, `/api/transactions${query}`)).status).toBe(400);
    expect((await get(PORTS.full, '/api/transactions/bad%20gtid')).status).toBe(400);
    expect((await get(PORTS.full, '/api/transactions', '')).status).toBe(401);
    expect((await get(PORTS.full, '/api/transactions', testAuthorization('clinician'))).status).toBe(403);
  });

  it('registers the routes once, with /api/transactions/in-doubt before /api/transactions/:gtid', async () => {
    const app = apps[0];
    const stack = (
      app.getHttpAdapter().getInstance() as {
        router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
      }
    ).router.stack;
    const gets = stack
      .filter((layer) => layer.route?.methods.get)
      .map((layer) => layer.route?.path)
      .filter((path) => path?.startsWith('/api/transactions'));
    expect(gets.filter((path) => path === '/api/transactions')).toHaveLength(1);
    expect(gets.filter((path) => path === '/api/transactions/:gtid')).toHaveLength(1);
    expect(gets.indexOf('/api/transactions/in-doubt')).toBeLessThan(gets.indexOf('/api/transactions/:gtid'));
    const inDoubt = await get<{ transactions: { gtid: string; role: string }[] }>(
      PORTS.full,
      '/api/transactions/in-doubt',
    );
    expect(inDoubt.status).toBe(200);
    expect(inDoubt.body.transactions).toContainEqual(
      expect.objectContaining({ gtid: gtids.preparing2pc, role: 'coordinator' }),
    );
    expect((await get(PORTS.full, '/api/transactions/in-doubt/resolutions')).status).toBe(200);
  });

  it('serves a service without 2PC its own logs only, and no in-doubt transactions', async () => {
    expect((await list('', PORTS.sagaOnly)).map((r) => r.gtid)).toEqual([gtids.saga]);
    expect((await get(PORTS.sagaOnly, `/api/transactions/${gtids.tcc}`)).status).toBe(404);
    expect((await get(PORTS.sagaOnly, '/api/transactions/in-doubt')).status).toBe(404);
  });
});
