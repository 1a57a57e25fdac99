// The laboratory and imaging loop as its fault run sets it up: the EMR, the LIS and the PACS as real
// processes from dist/ on the run's databases and RabbitMQ namespace, a private Orthanc in a temporary
// directory, the analyzer simulator and the modality simulator, one connection to each database. Opened
// and closed by faults-hl7.ts; everything of the run (databases kept for inspection) goes on close.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { request } from 'undici';
import { ORDER_RESULTS_EXCHANGE } from '@hospital/fhir';
import { AUDIT_EXCHANGE, AUDIT_RECORD_TYPE } from '@hospital/platform';
import { QUOTA_COMPLETIONS_EXCHANGE } from '@hospital/transactions';
import {
  deadLetterQueue,
  RabbitMqConnection,
} from '@hospital/transactions/adapters/rabbitmq/rabbitmq-connection';
/* eslint-disable no-restricted-imports -- the runner deletes the services' queues of its namespace */
import { ORDER_RESULTS_QUEUE } from '../../apps/emr/src/results/order-results.handler';
import { ANALYZER_ORDERS_QUEUE, LAB_ORDERS_EXCHANGE } from '../../apps/lis/src/orders/lab-order.event';
import { WORKLIST_EXCHANGE, WORKLIST_QUEUE } from '../../apps/pacs/src/worklist/worklist-events';
/* eslint-enable no-restricted-imports */
import { endpointsFromEnv } from '../infra/index';
import { OrthancServer } from '../infra/orthanc';
import type { TwoPhaseServiceName as ServiceName } from '../services';
import { AnalyzerSimulator, type AnalyzerSimulatorOptions } from './analyzer-simulator';
import {
  clientConfig,
  type Log,
  recreateRunDatabases,
  runDatabaseName,
  ServiceCluster,
  serviceNames,
} from './bench-cluster';
import { HL7_FAULT_ENV, type Hl7FaultLabOptions } from './faults-hl7-plan';
import { ModalitySimulator } from './modality-simulator';
import { deleteNamespace } from './pharmacy-cluster';
import { portInUse } from './service-process';

/** Where the audit service would take the records from; the run binds it so that they are routed. */
const AUDIT_STAND_IN_QUEUE = 'faults.audit-records';
/** Every queue the run's services declare under its namespace (dead-letter queues go with them). */
const RUN_QUEUES = [
  ORDER_RESULTS_QUEUE,
  ANALYZER_ORDERS_QUEUE,
  WORKLIST_QUEUE,
  'pacs.quota-completions',
  'lis.quota-completions',
  AUDIT_STAND_IN_QUEUE,
];

/** The processes, archive, simulators and database connections of one run. */
export class Hl7Rig {
  readonly clients = new Map<ServiceName, Client>();
  orthanc?: OrthancServer;
  analyzer?: AnalyzerSimulator;
  modality?: ModalitySimulator;
  private orthancDir?: string;

  private constructor(
    readonly options: Hl7FaultLabOptions,
    readonly cluster: ServiceCluster,
    private readonly log: Log,
  ) {}

  /**
   * Fresh databases and namespace, a private Orthanc, the analyzer on its port and the three services
   * pointed at them. `beforeResult` is the analyzer's hook before each result it sends.
   */
  static async open(
    options: Hl7FaultLabOptions,
    beforeResult: AnalyzerSimulatorOptions['beforeResult'],
  ): Promise<Hl7Rig> {
    const log = options.log ?? (() => undefined);
    const { ports } = options;
    const orthancDir = await mkdtemp(join(tmpdir(), 'faults-hl7-orthanc-'));
    const orthanc = new OrthancServer({
      dir: orthancDir,
      httpPort: ports.orthancHttp,
      dicomPort: ports.orthancDicom,
      stableAgeSeconds: 1,
    });
    const cluster = new ServiceCluster({
      suffix: options.suffix,
      portBase: ports.portBase,
      env: {
        ...HL7_FAULT_ENV,
        MESSAGING_NAMESPACE: options.namespace,
        ANALYZER_MLLP_HOST: '127.0.0.1',
        ANALYZER_MLLP_PORT: String(ports.analyzer),
        HL7_LISTEN_PORT: String(ports.listener),
        ORTHANC_URL: orthanc.url,
        ORTHANC_WORKLIST_DIR: orthanc.paths.worklists,
        ...options.env,
      },
      log,
    });
    const rig = new Hl7Rig(options, cluster, log);
    rig.orthancDir = orthancDir;
    try {
      await cluster.assertPortsFree();
      const others = [ports.orthancHttp, ports.orthancDicom, ports.analyzer, ports.listener];
      for (const port of others)
        if (await portInUse(port)) throw new Error(`port ${port} already in use: another hl7 fault run?`);
      await rig.deleteQueues();
      await recreateRunDatabases(options.suffix, log);
      await orthanc.start();
      rig.orthanc = orthanc;
      await rig.bindAuditStandIn();
      rig.analyzer = new AnalyzerSimulator({
        port: ports.analyzer,
        lisPort: ports.listener,
        resultDelayMs: 300,
        retryMs: 500,
        beforeResult,
      });
      await rig.analyzer.start();
      rig.modality = new ModalitySimulator({
        orthancUrl: orthanc.url,
        dicomPort: ports.orthancDicom,
        imagesPerStudy: 1,
      });
      for (const name of serviceNames) {
        const client = new Client(clientConfig(runDatabaseName(name, options.suffix)));
        client.on('error', () => undefined);
        await client.connect();
        rig.clients.set(name, client);
      }
      await cluster.startAll();
      log(
        `loop up (namespace ${options.namespace}): ${serviceNames.map((s) => `${s} ${cluster.url(s)}`).join(', ')}, Orthanc ${orthanc.url}, analyzer ${ports.analyzer}, LIS MLLP ${ports.listener}`,
      );
    } catch (error) {
      await rig.close();
      throw error;
    }
    return rig;
  }

  /** Stops everything the run started and deletes its queues and its Orthanc's directory. */
  async close(): Promise<void> {
    await this.cluster.stopAll();
    await this.analyzer?.stop();
    await this.orthanc?.stop();
    await Promise.all([...this.clients.values()].map((c) => c.end().catch(() => undefined)));
    this.clients.clear();
    if (this.orthancDir) await rm(this.orthancDir, { recursive: true, force: true });
    await this.deleteQueues().catch((error: unknown) =>
      this.log(`could not delete namespace ${this.options.namespace}: ${String(error)}`),
    );
  }

  /** Studies Orthanc holds with the accession number (QIDO-RS), undefined when it does not answer. */
  async archiveStudies(accession: string): Promise<number | undefined> {
    if (!this.orthanc) return undefined;
    try {
      const response = await request(`${this.orthanc.url}/dicom-web/studies?AccessionNumber=${accession}`, {
        headers: { accept: 'application/dicom+json' },
      });
      const text = await response.body.text();
      if (response.statusCode === 204 || text === '') return 0;
      return response.statusCode === 200 ? (JSON.parse(text) as unknown[]).length : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether Orthanc's change feed holds a StableStudy for the study (what the PACS's poller waits for). */
  async stableStudyReported(studyInstanceUid: string): Promise<boolean | undefined> {
    if (!this.orthanc) return undefined;
    try {
      const lookup = await request(`${this.orthanc.url}/tools/lookup`, {
        method: 'POST',
        body: studyInstanceUid,
      });
      const found = (await lookup.body.json()) as { ID: string; Type: string }[];
      const id = found.find((f) => f.Type === 'Study')?.ID;
      const feed = await request(`${this.orthanc.url}/changes?since=0&limit=100000`);
      const { Changes } = (await feed.body.json()) as { Changes: { ChangeType: string; ID: string }[] };
      return Changes.some((c) => c.ChangeType === 'StableStudy' && c.ID === id);
    } catch {
      return undefined;
    }
  }

  /** Messages in the dead-letter queues of the run's consumer queues. */
  async deadLetters(): Promise<{ queue: string; count: number }[]> {
    return this.withConnection(async (connection) => {
      const found: { queue: string; count: number }[] = [];
      for (const queue of RUN_QUEUES.map((q) => deadLetterQueue(connection.name(q)))) {
        // A queue not declared (yet) closes its channel: it holds nothing.
        const depth = await connection
          .withChannel((channel) => channel.checkQueue(queue))
          .catch(() => undefined);
        if ((depth?.messageCount ?? 0) > 0) found.push({ queue, count: depth?.messageCount ?? 0 });
      }
      return found;
    });
  }

  private async withConnection<T>(work: (connection: RabbitMqConnection) => Promise<T>): Promise<T> {
    const connection = new RabbitMqConnection(
      endpointsFromEnv().rabbitmq.url,
      'hospital-faults-hl7',
      this.options.namespace,
    );
    try {
      return await work(connection);
    } finally {
      await connection.close();
    }
  }

  private deleteQueues(): Promise<void> {
    return deleteNamespace(this.options.namespace, {
      queues: RUN_QUEUES,
      exchanges: [
        LAB_ORDERS_EXCHANGE,
        WORKLIST_EXCHANGE,
        ORDER_RESULTS_EXCHANGE,
        QUOTA_COMPLETIONS_EXCHANGE,
        AUDIT_EXCHANGE,
      ],
    });
  }

  /**
   * The services' audit records go to the audit service, which a fault run of the loop does not start; a
   * queue bound in its place lets them be routed (else they stay pending in the outboxes).
   */
  private async bindAuditStandIn(): Promise<void> {
    await this.withConnection((connection) =>
      connection.withChannel(async (channel) => {
        const exchange = connection.name(AUDIT_EXCHANGE);
        const queue = connection.name(AUDIT_STAND_IN_QUEUE);
        await channel.assertExchange(exchange, 'topic', { durable: true });
        await channel.assertQueue(queue, { durable: true });
        await channel.bindQueue(queue, exchange, `${AUDIT_RECORD_TYPE}.#`);
      }),
    );
  }
}
