import { createServer, IncomingMessage, Server } from 'node:http';
import { Body, Controller, Inject, INestApplication, Module, Param, Post } from '@nestjs/common';
import { Database, Roles, SERVICE_TRACING, ServiceTracing, Session } from '@hospital/platform';
import { testAuthorization } from '@hospital/platform/testing/access-token';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { eventually, freePort } from '@hospital/platform/testing/waiting';
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import {
  BRANCH_WORK,
  BranchWork,
  defineSaga,
  defineTcc,
  newGtid,
  PostgresSagaBrowser,
  PostgresSagaLog,
  PostgresTccBrowser,
  PostgresTccLog,
  PostgresQuotaSagaBrowser,
  PostgresQuotaSagaLog,
  PostgresThreePhaseLog,
  PostgresTransactionBrowser,
  quotaSagaLogMigrations,
  SagaOrchestrator,
  sagaMigrations,
  TccCoordinator,
  tccLogMigrations,
  transactionLogMigrations,
  TwoPhaseCommitModule,
  TwoPhaseCoordinator,
} from '@hospital/transactions';
import { startTestService, testServiceConfig } from './support/service-apps';

/**
 * One trace per global transaction, across services: an EMR coordinating a LIS participant (two-phase
 * commit) as real Nest apps over real HTTP and PostgreSQL, exporting their spans over OTLP/HTTP (JSON) to
 * a receiver this spec runs. The EMR's request span, its calls to the LIS and the LIS's request spans form
 * one trace; the transaction's record names that trace; no span says who the patient is or what was ordered.
 */
jest.setTimeout(60_000);

/** The receiver's port: the first free one of this spec's range (4850–4859). */
const RECEIVER_PORTS = [4850, 4851, 4852, 4853, 4854, 4855, 4856, 4857, 4858, 4859];

/** What identifies the patient and the order: it must reach the databases and never a span. */
const PATIENT = 'pat-4711-okafor';
const TEST = 'HbA1c glycated haemoglobin';
const WARD = 'icu-bed-7';

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: OtlpAttribute[];
  links?: unknown[];
}
interface OtlpRequest {
  resourceSpans: { resource: { attributes: OtlpAttribute[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
}

/** A span as the receiver got it, with its resource's service name. */
interface ReceivedSpan extends OtlpSpan {
  service: string;
}

const SPAN_KIND = { server: 2, client: 3 } as const;

const attribute = (attributes: OtlpAttribute[] | undefined, key: string): unknown => {
  const value = attributes?.find((a) => a.key === key)?.value;
  return value?.stringValue ?? value?.intValue ?? value?.boolValue ?? value?.doubleValue;
};

/** An OTLP/HTTP receiver in memory: collects every JSON export POSTed to `/v1/traces`. */
class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes = new Set<string>();
  private server?: Server;
  port = 0;

  async start(): Promise<void> {
    for (const port of RECEIVER_PORTS) {
      const server = createServer((req, res) => void this.receive(req, res));
      const listening = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (listening) {
        this.server = server;
        this.port = port;
        return;
      }
    }
    throw new Error(`no free port in ${RECEIVER_PORTS.join(', ')}`);
  }

  private async receive(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    this.contentTypes.add(String(req.headers['content-type']));
    if (req.method === 'POST' && req.url === '/v1/traces') {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpRequest;
      for (const { resource, scopeSpans } of body.resourceSpans) {
        const service = String(attribute(resource.attributes, 'service.name'));
        for (const { spans } of scopeSpans) for (const span of spans) this.spans.push({ ...span, service });
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The LIS's business step: the order row, in the branch's prepared transaction. */
const orderBranch: BranchWork<Session> = async (tx, payload) => {
  const { id, patient, test } = payload as { id: string; patient: string; test: string };
  await tx.query('INSERT INTO orders (id, patient, test) VALUES ($1, $2, $3)', [id, patient, test]);
};

/** The EMR's ward-order route: a patient's id in the path, the test in the body, one 2PC transaction. */
@Controller('api/ward-orders')
class WardOrdersController {
  constructor(@Inject(TwoPhaseCoordinator) private readonly coordinator: TwoPhaseCoordinator<Session>) {}

  @Post(':patient')
  @Roles('administrator')
  async place(@Param('patient') patient: string, @Body() body: { test: string }): Promise<{ gtid: string }> {
    const gtid = newGtid();
    await this.coordinator.execute({
      gtid,
      branches: [{ participant: 'lis', payload: { id: gtid, patient, test: body.test } }],
      local: async (tx) => {
        await tx.query('INSERT INTO orders (id, patient, test) VALUES ($1, $2, $3)', [
          gtid,
          patient,
          body.test,
        ]);
      },
    });
    return { gtid };
  }
}

@Module({
  imports: [TwoPhaseCommitModule.forFeature({ participants: ['lis'] })],
  controllers: [WardOrdersController],
})
class WardOrdersModule {}

describe('tracing across services: one trace per global transaction', () => {
  const receiver = new OtlpReceiver();
  const drops: (() => Promise<void>)[] = [];
  const apps: INestApplication[] = [];
  const dbs: Database[] = [];
  let emrUrl = '';

  async function start(name: string, port: number, peers: Record<string, string>, imports: unknown[]) {
    const { settings, drop } = await createTestDatabase(`tracing-${name}`, transactionLogMigrations);
    drops.push(drop);
    const db = new Database(settings, 'tracing-test');
    dbs.push(db);
    await db.query('CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, patient text, test text)');
    const config = testServiceConfig({
      name,
      port,
      database: settings.database,
      peers,
      env: {
        TX_RECOVERY_INTERVAL_MS: '0',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${receiver.port}/v1/traces`,
      },
    });
    apps.push(await startTestService(config, imports as []));
  }

  beforeAll(async () => {
    await receiver.start();
    const [emrPort, lisPort] = [await freePort(), await freePort()];
    emrUrl = `http://127.0.0.1:${emrPort}`;
    const lisUrl = `http://127.0.0.1:${lisPort}`;
    await start('emr', emrPort, { lis: lisUrl }, [WardOrdersModule]);
    await start('lis', lisPort, { emr: emrUrl }, [
      TwoPhaseCommitModule.forFeature({ participant: true }, [
        { provide: BRANCH_WORK, useValue: orderBranch },
      ]),
    ]);
  }, 90_000);

  afterAll(async () => {
    for (const app of apps.reverse()) await app.close();
    for (const db of dbs) await db.close();
    for (const drop of drops) await drop();
    await receiver.stop();
  });

  /** The spans of `traceId` received so far, after the process's provider sent what it holds. */
  async function spansOf(traceId: string): Promise<ReceivedSpan[]> {
    await apps[0].get<ServiceTracing>(SERVICE_TRACING).flush();
    return receiver.spans.filter((span) => span.traceId === traceId);
  }

  it('joins the coordinator, its calls and the participant in the trace its transaction record names', async () => {
    const answer = await fetch(`${emrUrl}/api/ward-orders/${PATIENT}?ward=${WARD}`, {
      method: 'POST',
      headers: { authorization: testAuthorization('administrator'), 'content-type': 'application/json' },
      body: JSON.stringify({ test: TEST }),
    });
    expect(answer.status).toBe(201);
    const { gtid } = (await answer.json()) as { gtid: string };

    // The transaction's record names its trace: the EMR's request span is that trace's root.
    const record = (await (
      await fetch(`${emrUrl}/api/transactions/${gtid}`, {
        headers: { authorization: testAuthorization('administrator') },
      })
    ).json()) as { state: string; traceId?: string; timeline: object[] };
    expect(record.traceId).toMatch(/^[0-9a-f]{32}$/);
    const traceId = record.traceId ?? '';
    // The timeline keeps its own shape: the trace id is the record's, not an entry's.
    expect(record.timeline[0]).toEqual({ at: expect.any(String), event: 'started' });

    // Prepare and commit: two calls, two participant requests, all ended, all in the one trace.
    const isServer = (name: string) => (s: ReceivedSpan) => s.kind === SPAN_KIND.server && s.name === name;
    const spans = await eventually(
      () => spansOf(traceId),
      (got) =>
        got.filter(isServer('POST /internal/2pc/batch')).length >= 2 &&
        got.some(isServer('POST /api/ward-orders/:patient')),
    );
    const [root] = spans.filter(isServer('POST /api/ward-orders/:patient'));
    const calls = spans.filter((s) => s.kind === SPAN_KIND.client && s.name === 'POST /internal/2pc/batch');
    const served = spans.filter(isServer('POST /internal/2pc/batch'));

    expect(root).toBeDefined();
    expect(root?.parentSpanId ?? '').toBe('');
    expect(attribute(root?.attributes, 'hospital.gtid')).toBe(gtid);
    expect(attribute(root?.attributes, 'http.route')).toBe('/api/ward-orders/:patient');
    expect(Number(attribute(root?.attributes, 'http.response.status_code'))).toBe(201);
    expect(root?.service).toBe('emr');

    // The EMR's calls are its request's children; each LIS request span is one of those calls' child.
    expect(calls).toHaveLength(2);
    for (const call of calls) {
      expect(call.parentSpanId).toBe(root?.spanId);
      expect(attribute(call.attributes, 'url.template')).toBe('/internal/2pc/batch');
      expect(Number(attribute(call.attributes, 'http.response.status_code'))).toBe(200);
    }
    expect(served).toHaveLength(2);
    expect(served.map((s) => s.parentSpanId).sort()).toEqual(calls.map((c) => c.spanId).sort());
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));

    // The order reached both databases; neither a span's name nor any attribute says whose or what it is.
    expect(await dbs[1].query('SELECT patient, test FROM orders WHERE id = $1', [gtid])).toEqual([
      { patient: PATIENT, test: TEST },
    ]);
    const everything = JSON.stringify(receiver.spans.map((s) => [s.name, s.attributes, s.links]));
    for (const secret of [PATIENT, TEST, WARD, 'ward=']) expect(everything).not.toContain(secret);
    expect([...receiver.contentTypes]).toEqual(['application/json']);
  });

  it('records the trace that started a saga, a quota-cached saga, a TCC or a 3PC transaction, and none outside a trace', async () => {
    const { settings, drop } = await createTestDatabase('tracing-logs', [
      ...transactionLogMigrations,
      ...sagaMigrations,
      ...tccLogMigrations,
      ...quotaSagaLogMigrations,
    ]);
    drops.push(drop);
    const db = new Database(settings, 'tracing-test');
    dbs.push(db);
    const saga = defineSaga<unknown>('treatment-plan', [
      { name: 'appointments', action: () => Promise.resolve(1), compensate: () => Promise.resolve() },
    ]);
    const tcc = defineTcc<unknown>('treatment-plan', [
      {
        name: 'pharmacy',
        try: () => Promise.resolve(),
        confirm: () => Promise.resolve(),
        cancel: () => Promise.resolve(),
      },
    ]);
    const sagas = new SagaOrchestrator(new PostgresSagaLog(db), [saga], { name: 'replica-a' });
    const tccs = new TccCoordinator(new PostgresTccLog(db), [tcc], { name: 'replica-a' });
    const threePhase = new PostgresThreePhaseLog(db);
    const quotaSagas = new PostgresQuotaSagaLog(db);
    const startAll = async () => {
      const gtid3pc = newGtid();
      await threePhase.begin(gtid3pc, ['referral-inbox']);
      const gtidQuota = newGtid();
      const steps = [{ step: 'regimen', participant: 'pharmacy', resource: 'drug:197361@icu', units: 1 }];
      await quotaSagas.begin({ gtid: gtidQuota, input: {}, steps }, 'replica-a', 10_000, () =>
        Promise.resolve(),
      );
      return {
        saga: (await sagas.start(saga, {})).gtid,
        tcc: (await tccs.run(tcc, {})).gtid,
        '3pc': gtid3pc,
        'quota-saga': gtidQuota,
      };
    };
    const listed = async (gtids: Record<'saga' | 'tcc' | '3pc' | 'quota-saga', string>) => [
      await new PostgresSagaBrowser(db).get(gtids.saga),
      await new PostgresTccBrowser(db).get(gtids.tcc),
      await new PostgresTransactionBrowser(db).get(gtids['3pc']),
      await new PostgresQuotaSagaBrowser(db).get(gtids['quota-saga']),
    ];

    const span = trace.getTracer('spec').startSpan('POST /api/care-plans');
    const traced = await context.with(trace.setSpan(ROOT_CONTEXT, span), startAll);
    span.end();
    for (const record of await listed(traced)) {
      expect(record?.traceId).toBe(span.spanContext().traceId);
      expect(record?.timeline[0]).not.toHaveProperty('traceId');
    }

    for (const record of await listed(await startAll())) {
      expect(record).toBeDefined();
      expect(record).not.toHaveProperty('traceId');
    }
  });
});
