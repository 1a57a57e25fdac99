// The pharmacy's parts as the fault runner runs them: real processes from dist/ on their own ports, their
// own databases (`hospital_<part>_<suffix>`, dropped and re-created at the start of a run) and their own
// RabbitMQ namespace (every queue and exchange prefixed, deleted at the end). The dispensing API runs
// without a relay; relays run as separate dispensing processes that take no requests, so a relay can be
// killed, restarted or doubled while the API keeps taking dispenses. Used by scripts/lib/faults-outbox.ts.
import amqp from 'amqplib';
import { Client } from 'pg';
import { serviceDatabaseName, type SqlExecutor } from '@hospital/platform';
import { deadLetterQueue } from '@hospital/transactions/adapters/rabbitmq/rabbitmq-connection';
import { endpointsFromEnv, ensureDatabases } from '../infra/index';
import { pharmacyServices, PharmacyServiceName, repositoryRoot, serviceEntry, serviceEnv } from '../services';
/* eslint-disable no-restricted-imports -- the runner seeds the parts and names their queues as they do */
import { PHARMACY_EXCHANGE } from '../../apps/pharmacy/src/contracts/pharmacy-events';
import { seedFormulary } from '../../apps/pharmacy/src/dispensing/database/seeds/formulary';
import { seedInventory, StockSeedLine } from '../../apps/pharmacy/src/inventory/database/seeds/stock';
import { DISPENSES_QUEUE } from '../../apps/pharmacy/src/inventory/messages/dispense-applied.handler';
import { DELIVERIES_QUEUE } from '../../apps/pharmacy/src/inventory/messages/stock-delivered.handler';
import { SUPPLY_CHAIN_QUEUES } from '../../apps/pharmacy/src/supply-chain/supply-chain.module';
import { SUPPLIER_QUEUE } from '../../apps/pharmacy/src/supplier/supplier.module';
/* eslint-enable no-restricted-imports */
import { clientConfig, Log, withClient } from './bench-cluster';
import { ExitInfo, portInUse, ServiceProcess } from './service-process';

/**
 * The processes of a run. `dispensing` takes the HTTP dispenses (OUTBOX_RELAY=false); `relay` and
 * `relay-2` are dispensing processes that only relay its outbox (the second one only when a trial runs two).
 */
export type PharmacyRole =
  'dispensing' | 'inventory' | 'supply-chain' | 'supplier' | 'messages' | 'relay' | 'relay-2';

interface RoleDefinition {
  service: PharmacyServiceName;
  /** Port = portBase + offset. */
  offset: number;
  env: Record<string, string>;
}

export const ROLES: Readonly<Record<PharmacyRole, RoleDefinition>> = {
  dispensing: { service: 'pharmacy', offset: 1, env: { OUTBOX_RELAY: 'false' } },
  inventory: { service: 'pharmacy-inventory', offset: 2, env: {} },
  'supply-chain': { service: 'pharmacy-supply-chain', offset: 3, env: {} },
  supplier: { service: 'pharmacy-supplier', offset: 4, env: {} },
  messages: { service: 'pharmacy-messages', offset: 5, env: {} },
  relay: { service: 'pharmacy', offset: 6, env: { OUTBOX_RELAY: 'true' } },
  'relay-2': { service: 'pharmacy', offset: 7, env: { OUTBOX_RELAY: 'true' } },
};

/** The roles that run all the time (`relay-2` only while a trial runs two relays). */
export const STANDING_ROLES: readonly PharmacyRole[] = [
  'dispensing',
  'inventory',
  'supply-chain',
  'supplier',
  'messages',
  'relay',
];

export const pharmacyServiceNames: readonly PharmacyServiceName[] = pharmacyServices.map((s) => s.name);

export function pharmacyDatabase(service: PharmacyServiceName, suffix: string): string {
  return serviceDatabaseName(service, suffix);
}

/**
 * The queues the parts consume (before the namespace) and the part that consumes each; a consumer's inbox
 * rows carry the queue's name (`tx_inbox.consumer`).
 */
export const PHARMACY_QUEUES = {
  dispenses: { queue: DISPENSES_QUEUE, service: 'pharmacy-inventory' },
  deliveries: { queue: DELIVERIES_QUEUE, service: 'pharmacy-inventory' },
  stockLow: { queue: SUPPLY_CHAIN_QUEUES.stockLow, service: 'pharmacy-supply-chain' },
  deliveryShipped: { queue: SUPPLY_CHAIN_QUEUES.deliveryShipped, service: 'pharmacy-supply-chain' },
  purchaseOrders: { queue: SUPPLIER_QUEUE, service: 'pharmacy-supplier' },
} as const satisfies Record<string, { queue: string; service: PharmacyServiceName }>;

export const PHARMACY_EVENTS_EXCHANGE = PHARMACY_EXCHANGE;

/** A pg client as the seeds' SqlExecutor. */
function executor(client: Client): SqlExecutor {
  return {
    query: async <T>(sql: string, parameters?: unknown[]): Promise<T[]> =>
      (await client.query(sql, parameters)).rows as T[],
  };
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Drops and re-creates the run's five databases, migrates them, seeds the formulary and `stock`. */
export async function recreatePharmacyDatabases(
  suffix: string,
  stock: readonly StockSeedLine[],
  log: Log,
): Promise<void> {
  const names = pharmacyServiceNames.map((s) => pharmacyDatabase(s, suffix));
  for (const database of names) {
    await withClient('postgres', (admin) =>
      admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`),
    );
  }
  await ensureDatabases(
    endpointsFromEnv(),
    pharmacyServices.map((s) => ({ database: pharmacyDatabase(s.name, suffix), migrations: s.migrations })),
    () => undefined,
  );
  await withClient(pharmacyDatabase('pharmacy', suffix), async (client) => {
    await client.query('BEGIN');
    await seedFormulary(executor(client));
    await client.query('COMMIT');
  });
  await withClient(pharmacyDatabase('pharmacy-inventory', suffix), (client) =>
    seedInventory(executor(client), stock),
  );
  log(`fresh databases ${names.join(', ')} (formulary and ${stock.length} stock line(s) seeded)`);
}

/** One connection per part's database, for the runner's checks. */
export async function connectPharmacyDatabases(suffix: string): Promise<Map<PharmacyServiceName, Client>> {
  const clients = new Map<PharmacyServiceName, Client>();
  try {
    for (const name of pharmacyServiceNames) {
      const client = new Client(clientConfig(pharmacyDatabase(name, suffix)));
      client.on('error', () => undefined);
      await client.connect();
      clients.set(name, client);
    }
  } catch (error) {
    await Promise.all([...clients.values()].map((c) => c.end().catch(() => undefined)));
    throw error;
  }
  return clients;
}

/** Every queue a run's parts declare (consumer queues and their dead-letter queues), namespaced. */
export function namespacedQueues(namespace: string): { queue: string; deadLetters: string }[] {
  return Object.values(PHARMACY_QUEUES).map(({ queue }) => {
    const name = `${namespace}.${queue}`;
    return { queue: name, deadLetters: deadLetterQueue(name) };
  });
}

export function namespacedExchange(namespace: string): string {
  return `${namespace}.${PHARMACY_EXCHANGE}`;
}

async function withAmqp<T>(work: (connection: amqp.ChannelModel) => Promise<T>): Promise<T> {
  const connection = await amqp.connect(endpointsFromEnv().rabbitmq.url, {
    clientProperties: { connection_name: 'hospital-faults' },
  });
  connection.on('error', () => undefined);
  try {
    return await work(connection);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Runs one operation on its own channel: a refused operation (404, 406) closes only that channel. */
async function onChannel<T>(connection: amqp.ChannelModel, work: (channel: amqp.Channel) => Promise<T>) {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    return await work(channel);
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/**
 * Deletes the run's queues (dead-letter queues too) and its exchange, and `more` consumer queues (with
 * their dead-letter queues) and exchanges of other services under the namespace; missing ones are fine.
 * Every run must: a broker left with hundreds of quorum queues runs out of file handles and stops
 * accepting connections.
 */
export async function deleteNamespace(
  namespace: string,
  more: { queues?: readonly string[]; exchanges?: readonly string[] } = {},
): Promise<void> {
  const queues = [
    ...namespacedQueues(namespace),
    ...(more.queues ?? []).map((q) => ({
      queue: `${namespace}.${q}`,
      deadLetters: deadLetterQueue(`${namespace}.${q}`),
    })),
  ];
  const exchanges = [
    namespacedExchange(namespace),
    ...(more.exchanges ?? []).map((e) => `${namespace}.${e}`),
  ];
  await withAmqp(async (connection) => {
    for (const { queue, deadLetters } of queues) {
      for (const name of [queue, deadLetters])
        await onChannel(connection, (c) => c.deleteQueue(name)).catch(() => undefined);
    }
    for (const exchange of exchanges)
      await onChannel(connection, (c) => c.deleteExchange(exchange)).catch(() => undefined);
  });
}

export interface QueueDepth {
  queue: string;
  /** Ready messages (unacknowledged ones are not counted). */
  ready: number;
  consumers: number;
  deadLetters: number;
}

/** Depth of every consumer queue and its dead-letter queue; a queue not declared yet counts as empty. */
export async function queueDepths(namespace: string): Promise<QueueDepth[]> {
  return withAmqp(async (connection) => {
    const depths: QueueDepth[] = [];
    for (const { queue, deadLetters } of namespacedQueues(namespace)) {
      const main = await onChannel(connection, (c) => c.checkQueue(queue)).catch(() => undefined);
      const dead = await onChannel(connection, (c) => c.checkQueue(deadLetters)).catch(() => undefined);
      depths.push({
        queue,
        ready: main?.messageCount ?? 0,
        consumers: main?.consumerCount ?? 0,
        deadLetters: dead?.messageCount ?? 0,
      });
    }
    return depths;
  });
}

/** A message exactly as the parts publish it: properties and headers of the outbox or the message server. */
export interface RawMessage {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: amqp.Options.Publish;
}

/** Publishes `messages` on a confirm channel and waits for the broker's confirms. */
export async function publishRaw(messages: readonly RawMessage[]): Promise<void> {
  if (messages.length === 0) return;
  await withAmqp(async (connection) => {
    const channel = await connection.createConfirmChannel();
    channel.on('error', () => undefined);
    try {
      for (const m of messages) channel.publish(m.exchange, m.routingKey, m.content, m.options);
      await channel.waitForConfirms();
    } finally {
      await channel.close().catch(() => undefined);
    }
  });
}

export interface PharmacyClusterOptions {
  /** Database suffix: each part uses `hospital_<part>_<suffix>`. */
  suffix: string;
  /** Every exchange and queue of the run is prefixed with it. */
  namespace: string;
  /** Role ports are portBase + 1 … portBase + 7. */
  portBase: number;
  /** Environment for every process (time-outs, batch sizes…). */
  env?: Record<string, string | undefined>;
  readyTimeoutMs?: number;
}

/** The run's processes, started, stopped and killed by role. */
export class PharmacyCluster {
  private readonly running = new Map<PharmacyRole, ServiceProcess>();

  constructor(private readonly options: PharmacyClusterOptions) {}

  port(role: PharmacyRole): number {
    return this.options.portBase + ROLES[role].offset;
  }

  url(role: PharmacyRole): string {
    return `http://127.0.0.1:${this.port(role)}`;
  }

  get namespace(): string {
    return this.options.namespace;
  }

  /** Fails when a port of the run is taken: another run is going on and its databases must be left alone. */
  async assertPortsFree(): Promise<void> {
    const taken: string[] = [];
    for (const role of Object.keys(ROLES) as PharmacyRole[])
      if (await portInUse(this.port(role))) taken.push(`${this.port(role)} (${role})`);
    if (taken.length > 0) {
      throw new Error(
        `port(s) ${taken.join(', ')} already in use: another ${this.options.suffix} run is going on, or left services behind`,
      );
    }
  }

  isRunning(role: PharmacyRole): boolean {
    return this.running.get(role)?.alive === true;
  }

  get(role: PharmacyRole): ServiceProcess | undefined {
    return this.running.get(role);
  }

  /** Starts one role (with extra variables such as FAULT_KILL_AT) and waits until it is ready. */
  async start(role: PharmacyRole, extra: Record<string, string | undefined> = {}): Promise<ServiceProcess> {
    if (this.isRunning(role)) throw new Error(`${role} is already running`);
    const { service, env: roleEnv } = ROLES[role];
    const env = serviceEnv(service, {
      PORT: String(this.port(role)),
      HOST: '127.0.0.1',
      PGDATABASE: pharmacyDatabase(service, this.options.suffix),
      MESSAGING_NAMESPACE: this.options.namespace,
      PHARMACY_MESSAGES_URL: this.url('messages'),
      // The message server calls the supply chain back here (its MESSAGE_PRODUCERS derives from it).
      PHARMACY_SUPPLY_CHAIN_URL: this.url('supply-chain'),
      FAULT_KILL_AT: undefined,
      ...this.options.env,
      ...roleEnv,
      ...extra,
    });
    const process = await ServiceProcess.start({
      name: role,
      entry: serviceEntry(service),
      env,
      port: this.port(role),
      cwd: repositoryRoot(),
      readyTimeoutMs: this.options.readyTimeoutMs,
    });
    this.running.set(role, process);
    return process;
  }

  /** Graceful stop (SIGTERM, SIGKILL after a grace period); resolves with the exit. */
  async stop(role: PharmacyRole): Promise<ExitInfo | undefined> {
    const process = this.running.get(role);
    this.running.delete(role);
    return process?.stop();
  }

  /** Forgets a process that died on its own and returns its exit. */
  forget(role: PharmacyRole): ExitInfo | undefined {
    const process = this.running.get(role);
    this.running.delete(role);
    return process?.exit;
  }

  /** Starts the standing roles that are not running, the message server and consumers first. */
  async startStanding(): Promise<void> {
    const order: PharmacyRole[][] = [
      ['messages', 'inventory', 'supplier'],
      ['supply-chain', 'dispensing', 'relay'],
    ];
    for (const group of order)
      await Promise.all(group.filter((r) => !this.isRunning(r)).map((r) => this.start(r)));
  }

  async stopAll(): Promise<void> {
    await Promise.all((Object.keys(ROLES) as PharmacyRole[]).map((r) => this.stop(r)));
  }
}
