import { randomBytes, randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { FhirExceptionFilter, ORDER_CATEGORY, ORDER_RESULTS_EXCHANGE } from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { testServiceCredentials } from '@hospital/platform/testing/service-auth';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';
import { HttpParticipantClient, newGtid, RabbitMqConnection } from '@hospital/transactions';
import { AnalyzerSimulator } from '../../../../scripts/lib/analyzer-simulator';
import { lisConfig } from '../../src/config';
import { migrations } from '../../src/database/migrations';
import { LisModule } from '../../src/lis.module';

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** The ports of one spec file: the LIS's HTTP and MLLP listener, the simulated analyzer's order port. */
export interface LisPorts {
  http: number;
  listener: number;
  analyzer: number;
}

/** An order-result event as the EMR would receive it. */
export interface ReceivedEvent {
  type: string;
  messageId: string;
  payload: Record<string, unknown>;
}

/**
 * A real LIS (Nest app over HTTP, its own PostgreSQL database, RabbitMQ under a namespace of its own, its
 * MLLP listener on loopback) with a simulated analyzer, a stand-in EMR driving its 2PC participant
 * endpoint, and a queue of the spec's own bound to the order-results exchange.
 */
export class LisHarness {
  readonly analyzer: AnalyzerSimulator;
  readonly events: ReceivedEvent[] = [];
  private app?: INestApplication;
  private listener?: ChannelWrapper;
  private connection?: RabbitMqConnection;
  private drop?: () => Promise<void>;
  db!: Database;
  private readonly emr: HttpParticipantClient;

  private constructor(readonly ports: LisPorts) {
    this.analyzer = new AnalyzerSimulator({ port: ports.analyzer, lisPort: ports.listener, retryMs: 100 });
    this.emr = new HttpParticipantClient('lis', this.url, 'emr', testServiceCredentials('emr'));
  }

  get url(): string {
    return `http://127.0.0.1:${this.ports.http}`;
  }

  static async start(ports: LisPorts): Promise<LisHarness> {
    const harness = new LisHarness(ports);
    await harness.boot();
    return harness;
  }

  private async boot(): Promise<void> {
    const namespace = `lis-hl7-${randomBytes(4).toString('hex')}`;
    const created = await createTestDatabase('lis', migrations);
    this.drop = created.drop;
    this.db = new Database(created.settings, 'lis-hl7-test');
    this.connection = new RabbitMqConnection(AMQP_URL, 'lis-hl7-spec', namespace);
    const exchange = this.connection.name(ORDER_RESULTS_EXCHANGE);
    const queue = this.connection.name('test.emr.order-results');
    this.listener = this.connection.manager.createChannel({
      setup: async (channel: ConfirmChannel) => {
        await channel.assertExchange(exchange, 'topic', { durable: true });
        await channel.assertQueue(queue, { durable: false, autoDelete: true });
        await channel.bindQueue(queue, exchange, 'lis');
        await channel.consume(queue, (message: ConsumeMessage | null) => {
          if (message === null) return;
          this.events.push({
            type: String(message.properties.type),
            messageId: String(message.properties.messageId),
            payload: JSON.parse(message.content.toString()) as Record<string, unknown>,
          });
          channel.ack(message);
        });
      },
    });
    await this.listener.waitForConnect();
    await this.analyzer.start();
    const config = lisConfig({
      ...process.env,
      PGDATABASE: created.settings.database,
      PORT: String(this.ports.http),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'error',
      AMQP_URL,
      MESSAGING_NAMESPACE: namespace,
      OUTBOX_POLL_MS: '100',
      CONSUMER_MAX_ATTEMPTS: '3',
      ANALYZER_MLLP_PORT: String(this.ports.analyzer),
      ANALYZER_ACK_TIMEOUT_MS: '2000',
      HL7_LISTEN_PORT: String(this.ports.listener),
    });
    this.app = await createServiceApp(LisModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await this.app.listen(this.ports.http, '127.0.0.1');
  }

  async stop(): Promise<void> {
    await this.analyzer.stop();
    await this.app?.close();
    await this.listener?.close().catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
    await this.db?.close();
    await this.drop?.();
  }

  /**
   * What the EMR's record update does for the LIS: prepare the branch (patient and orders) and commit it.
   * Returns the ids; `orderIds` re-sends orders the LIS already holds.
   */
  async recordUpdate(
    options: { patientId?: string; orderIds?: string[]; panel?: string; commit?: boolean } = {},
  ): Promise<{ patientId: string; orderIds: string[] }> {
    const patientId = options.patientId ?? randomUUID();
    const orderIds = options.orderIds ?? [randomUUID()];
    const gtid = newGtid();
    const payload = {
      patient: {
        resourceType: 'Patient',
        id: patientId,
        identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: `MRN-${patientId.slice(0, 8)}` }],
        name: [{ family: 'Synthetic', given: ['Test'] }],
        gender: 'female',
        birthDate: '1970-01-01',
      },
      serviceRequests: orderIds.map((id) => ({
        resourceType: 'ServiceRequest',
        id,
        status: 'active',
        intent: 'order',
        category: [{ coding: [ORDER_CATEGORY.laboratory] }],
        code: { coding: [{ system: 'http://loinc.org', code: options.panel ?? '58410-2' }] },
        subject: { reference: `Patient/${patientId}` },
      })),
    };
    const vote = await this.emr.prepare(gtid, 'emr', payload);
    if (vote.vote !== 'yes') throw new Error(`the LIS voted ${vote.vote}`);
    if (options.commit === false) await this.emr.abort(gtid);
    else await this.emr.commit(gtid);
    return { patientId, orderIds };
  }

  /** GET on the LIS's FHIR endpoint as a clinician. */
  async fhir(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const url = `${this.url}/fhir/${path}`;
    const response = await fetch(url, { headers: { authorization: testAuthorizationFor(url) } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** Rows of the tables a result message may touch. */
  async counts(): Promise<Record<string, number>> {
    const [row] = await this.db.query<Record<string, string>>(
      `SELECT (SELECT count(*) FROM fhir_resource) AS resources,
              (SELECT count(*) FROM fhir_resource_history) AS history,
              (SELECT count(*) FROM tx_inbox) AS inbox,
              (SELECT count(*) FROM tx_outbox) AS outbox`,
    );
    return Object.fromEntries(Object.entries(row ?? {}).map(([k, v]) => [k, Number(v)]));
  }
}
