import {
  DynamicModule,
  Inject,
  Injectable,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Provider,
  Type,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import {
  Database,
  MetricsRegistry,
  ReadinessChecks,
  ROOT_LOGGER,
  environmentOf,
  MessagingEnvironment,
  SERVICE_CONFIG,
  ServiceConfig,
  Session,
} from '@hospital/platform';
import { Logger } from 'pino';
import { NewOutboxEvent, OutboxMessage, MessagePublisher } from '../ports/messaging.ports';
import { PostgresOutbox } from '../adapters/postgres/postgres-outbox';
import { PostgresInbox } from '../adapters/postgres/postgres-inbox';
import { RabbitMqConnection } from '../adapters/rabbitmq/rabbitmq-connection';
import { RabbitMqPublisher } from '../adapters/rabbitmq/rabbitmq-publisher';
import { RabbitMqConsumer } from '../adapters/rabbitmq/rabbitmq-consumer';
import { RabbitMqDeadLetters } from '../adapters/rabbitmq/rabbitmq-dead-letters';
import { OutboxRelay } from '../outbox/outbox-relay';
import { InboxConsumer, MessageHandler } from '../outbox/inbox-consumer';
import { MessagingMetrics } from './messaging.observability';
import { faultPoints } from './fault-points';
import { protocolLogger } from './observability';
import { consumerLimits, TransientFailurePolicy } from './consumer-limits';
import { ConsumedQueues, MESSAGING_RUNTIME, MessagingController } from './messaging.controller';
import { rabbitMqConnectionProvider } from './rabbitmq-connection.provider';

/** A queue this service consumes, and the handler that applies its messages. */
export interface ConsumerDefinition {
  /** Queue name (durable quorum queue, one active consumer) and the inbox's consumer name. */
  queue: string;
  bindings: { exchange: string; routingKey: string }[];
  /** A provider class (list it in `providers`) that applies one message inside the inbox transaction. */
  handler: Type<MessageHandler<Session>>;
  /** What happens to a message whose handler keeps failing for a passing reason (default `'dead-letter'`). */
  transientFailures?: TransientFailurePolicy;
}

export interface MessagingOptions {
  /** The service writes events through an outbox; a relay runs in-process unless OUTBOX_RELAY=false. */
  outbox?: boolean;
  consumers?: ConsumerDefinition[];
  /** Modules exporting what the handlers need. */
  imports?: DynamicModule['imports'];
  /** The handler classes (and anything else only they need). */
  providers?: Provider[];
}

/** Token of the service's broker publisher (a `MessagePublisher`), for styles that publish directly. */
export const MESSAGE_PUBLISHER = Symbol('MESSAGE_PUBLISHER');
const OPTIONS = Symbol('MESSAGING_OPTIONS');

/** Writes events in the caller's local transaction; `notify()` after the commit wakes the relays. */
@Injectable()
export class Outbox {
  constructor(@Inject(PostgresOutbox) private readonly store: PostgresOutbox) {}

  append(session: Session, events: readonly NewOutboxEvent[]): Promise<OutboxMessage[]> {
    return this.store.append(session, events);
  }

  notify(): void {
    this.store.notify();
  }

  backlog(): Promise<{ pending: number; oldestAgeMs: number }> {
    return this.store.backlog();
  }
}

/** Starts the relay and the consumers once the application is up, and stops them before it goes down. */
@Injectable()
export class MessagingRuntime implements OnApplicationBootstrap, OnApplicationShutdown, ConsumedQueues {
  private relay?: OutboxRelay;
  private consumers: RabbitMqConsumer[] = [];
  /** Housekeeping (outbox prune and vacuum, inbox prune), stopped at shutdown. */
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    @Inject(OPTIONS) private readonly options: MessagingOptions,
    @Inject(SERVICE_CONFIG) private readonly config: ServiceConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
    @Inject(Database) private readonly db: Database,
    @Inject(RabbitMqConnection) private readonly connection: RabbitMqConnection,
    @Inject(MESSAGE_PUBLISHER) private readonly publisher: MessagePublisher,
    @Inject(MessagingMetrics) private readonly metrics: MessagingMetrics,
    @Inject(PostgresOutbox) private readonly outbox: PostgresOutbox,
    @Inject(ReadinessChecks) private readonly readiness: ReadinessChecks,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** The queues this service consumes. */
  get queues(): string[] {
    return (this.options.consumers ?? []).map((c) => c.queue);
  }

  async onApplicationBootstrap(): Promise<void> {
    const env = environmentOf(this.config, MessagingEnvironment);
    this.readiness.add({
      name: 'rabbitmq',
      check: () =>
        this.connection.connected
          ? Promise.resolve()
          : Promise.reject(new Error('not connected to RabbitMQ')),
    });
    const log = protocolLogger(this.logger);
    const points = faultPoints(this.config);
    if (this.options.outbox && env.OUTBOX_RELAY === 'true') {
      this.relay = new OutboxRelay(
        this.outbox,
        this.publisher,
        {
          batchSize: env.OUTBOX_BATCH_SIZE,
          pollMs: env.OUTBOX_POLL_MS,
          lingerMs: env.OUTBOX_LINGER_MS,
          points: this.config.env.FAULT_KILL_AT === undefined ? undefined : points,
        },
        this.metrics,
        log,
      );
      this.relay.start();
      this.every(600_000, () => this.outbox.prune(3_600_000));
      this.every(10_000, () => this.outbox.vacuum());
    }
    const inbox = new PostgresInbox();
    if (this.queues.length > 0) {
      const retentionMs = env.INBOX_RETENTION_HOURS * 3_600_000;
      this.every(600_000, () => inbox.prune(this.db, this.queues, retentionMs));
    }
    for (const definition of this.options.consumers ?? []) {
      const handler = this.moduleRef.get(definition.handler, { strict: false });
      const limits = consumerLimits(env.CONSUMER_MAX_ATTEMPTS, definition.transientFailures);
      const core = new InboxConsumer<Session>(
        this.db,
        inbox,
        handler,
        { name: definition.queue, maxAttempts: limits.maxAttempts, gapPatience: limits.gapPatience, points },
        log,
      );
      const consumer = new RabbitMqConsumer(
        this.connection,
        {
          queue: definition.queue,
          bindings: definition.bindings,
          prefetch: env.CONSUMER_PREFETCH,
          deliveryLimit: limits.deliveryLimit,
          retryDelayMs: 100,
        },
        async (batch) => {
          const dispositions = await core.process(batch);
          // A handler may have appended events (inventory's reorder): wake the relay for them.
          if (this.options.outbox && dispositions.some((d) => d.kind === 'applied')) this.outbox.notify();
          return dispositions;
        },
        this.metrics,
        log,
      );
      await consumer.start();
      this.consumers.push(consumer);
    }
  }

  /** Runs `task` every `ms` in the background; a failed run waits for the next. */
  private every(ms: number, task: () => Promise<unknown>): void {
    const timer = setInterval(() => void task().catch(() => undefined), ms);
    timer.unref();
    this.timers.push(timer);
  }

  async onApplicationShutdown(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    await Promise.all(this.consumers.map((c) => c.stop()));
    await this.relay?.stop();
    await this.outbox.close();
    await this.connection.close().catch(() => undefined);
  }
}

/**
 * Wires the outbox / inbox style to PostgreSQL, RabbitMQ, metrics and logs: an `Outbox` to write events
 * with, an in-process relay, one inbox consumer per queue, and `/api/messages` to inspect the backlog and
 * inspect or replay dead letters. Global, so feature modules inject `Outbox` and `MESSAGE_PUBLISHER`.
 */
@Module({})
export class MessagingModule {
  /** The service's outbox, relay and consumers (imported once, by the service's root module). */
  static forRoot(options: MessagingOptions): DynamicModule {
    return {
      module: MessagingModule,
      global: true,
      imports: options.imports ?? [],
      controllers: [MessagingController],
      providers: [
        ...(options.providers ?? []),
        { provide: OPTIONS, useValue: options },
        rabbitMqConnectionProvider,
        {
          provide: MESSAGE_PUBLISHER,
          inject: [RabbitMqConnection],
          useFactory: (connection: RabbitMqConnection) => new RabbitMqPublisher(connection),
        },
        {
          provide: RabbitMqDeadLetters,
          inject: [RabbitMqConnection],
          useFactory: (connection: RabbitMqConnection) => new RabbitMqDeadLetters(connection),
        },
        {
          provide: PostgresOutbox,
          inject: [Database, SERVICE_CONFIG],
          useFactory: (db: Database, config: ServiceConfig) => new PostgresOutbox(db, config.service.name),
        },
        {
          provide: MessagingMetrics,
          inject: [MetricsRegistry, PostgresOutbox, RabbitMqDeadLetters],
          useFactory: (metrics: MetricsRegistry, outbox: PostgresOutbox, deadLetters: RabbitMqDeadLetters) =>
            new MessagingMetrics(
              metrics,
              () => (options.outbox ? outbox.backlog() : undefined),
              async () => {
                const depths = new Map<string, number>();
                for (const { queue } of options.consumers ?? [])
                  depths.set(queue, await deadLetters.depth(queue).catch(() => 0));
                return depths;
              },
            ),
        },
        Outbox,
        MessagingRuntime,
        { provide: MESSAGING_RUNTIME, useExisting: MessagingRuntime },
      ],
      exports: [Outbox, MESSAGE_PUBLISHER, RabbitMqConnection, MessagingRuntime],
    };
  }
}
