import { hostname } from 'node:os';
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
  ConfigError,
  Database,
  environmentOf,
  MetricsRegistry,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  ServiceConfig,
} from '@hospital/platform';
import { Logger } from 'pino';
import { NotificationChannel } from '../ports/best-effort.ports';
import { PostgresNotificationStore } from '../adapters/postgres/postgres-notification-store';
import { assertDeliveryPolicy, BestEffortDispatcher, DeliveryPolicy } from '../best-effort/dispatcher';
import { Jitter } from '../best-effort/backoff';
import { BestEffortEnvironment } from './best-effort.environment';
import { BestEffortMetrics } from './best-effort.observability';
import { NotificationsController } from './best-effort.controller';
import { NOTIFICATION_CHANNELS, Notifications } from './best-effort.notifications';
import { faultPoints } from './fault-points';
import { protocolLogger } from './observability';
import { TransactionBrowsersModule } from './transaction-browsers.module';

/** One way this service delivers notifications, and how patiently. */
export interface NotificationChannelDefinition {
  /** The name notifications give as their `channel` (`station-http`, `email`, `sms`…). */
  name: string;
  /** A provider class that delivers one notification (added to the module's providers). */
  channel: Type<NotificationChannel>;
  /** Overrides of the `NOTIFICATION_*` defaults for this channel (each channel has its own dispatcher). */
  policy?: Partial<Omit<DeliveryPolicy, 'backoff'>> & { backoff?: Partial<DeliveryPolicy['backoff']> };
}

export interface BestEffortOptions {
  channels: NotificationChannelDefinition[];
  /** Modules exporting what the channels need. */
  imports?: DynamicModule['imports'];
  providers?: Provider[];
}

const POLICIES = Symbol('NOTIFICATION_POLICIES');
const CHANNEL_TYPES = Symbol('NOTIFICATION_CHANNEL_TYPES');

/** Each channel's delivery policy: the environment's defaults under the channel's overrides, checked at boot. */
export function channelPolicies(
  env: BestEffortEnvironment,
  channels: readonly NotificationChannelDefinition[],
): Map<string, DeliveryPolicy> {
  const policies = new Map<string, DeliveryPolicy>();
  for (const definition of channels) {
    if (policies.has(definition.name))
      throw new ConfigError(
        `Invalid configuration:\n  notification channel '${definition.name}' is defined twice`,
      );
    const { backoff, ...rest } = definition.policy ?? {};
    const policy: DeliveryPolicy = {
      batchSize: env.NOTIFICATION_BATCH_SIZE,
      pollMs: env.NOTIFICATION_POLL_MS,
      leaseMs: env.NOTIFICATION_LEASE_MS,
      attemptTimeoutMs: env.NOTIFICATION_ATTEMPT_TIMEOUT_MS,
      maxAttempts: env.NOTIFICATION_MAX_ATTEMPTS,
      ...rest,
      backoff: {
        baseDelayMs: env.NOTIFICATION_BASE_DELAY_MS,
        maxDelayMs: env.NOTIFICATION_MAX_DELAY_MS,
        jitter: env.NOTIFICATION_JITTER as Jitter,
        ...backoff,
      },
    };
    try {
      assertDeliveryPolicy(policy);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConfigError(
        `Invalid configuration:\n  notification channel '${definition.name}': ${reason} (see the NOTIFICATION_* variables)`,
      );
    }
    policies.set(definition.name, policy);
  }
  return policies;
}

/** Starts one dispatcher per channel once the application is up (unless NOTIFICATION_DISPATCHER=false). */
@Injectable()
export class BestEffortRuntime implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly dispatchers: BestEffortDispatcher[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: ServiceConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
    @Inject(POLICIES) private readonly policies: Map<string, DeliveryPolicy>,
    @Inject(PostgresNotificationStore) private readonly store: PostgresNotificationStore,
    @Inject(BestEffortMetrics) private readonly metrics: BestEffortMetrics,
    @Inject(CHANNEL_TYPES) private readonly types: Map<string, Type<NotificationChannel>>,
    private readonly moduleRef: ModuleRef,
  ) {}

  onApplicationBootstrap(): void {
    const env = environmentOf(this.config, BestEffortEnvironment);
    if (env.NOTIFICATION_DISPATCHER !== 'true') return;
    const replica = `${this.config.service.name}@${hostname()}:${process.pid}`;
    for (const [name, policy] of this.policies) {
      const type = this.types.get(name);
      if (!type) continue;
      const channel = this.moduleRef.get(type, { strict: false });
      const dispatcher = new BestEffortDispatcher(
        this.store,
        { [name]: channel },
        { ...policy, name: `${replica}/${name}`, points: faultPoints(this.config) },
        this.metrics,
        protocolLogger(this.logger),
      );
      dispatcher.start();
      this.dispatchers.push(dispatcher);
    }
    const retentionMs = env.NOTIFICATION_RETENTION_HOURS * 3_600_000;
    this.timer = setInterval(() => void this.store.prune(retentionMs).catch(() => undefined), 600_000);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    // Stopped first, then woken from their waits by the store closing.
    const stopping = this.dispatchers.map((d) => d.stop());
    await this.store.close();
    await Promise.all(stopping);
  }
}

/**
 * Wires best-effort notification to PostgreSQL, metrics and logs: an injectable `Notifications` to write
 * notifications with (in the change's transaction), one dispatcher per configured channel, and
 * `/api/notifications` (reconciliation, dead letters with replay, attempts). Global, so feature modules
 * inject `Notifications`; each gtid's notifications are listed at `/api/transactions` too (style
 * `best-effort`). The service composes `BestEffortEnvironment` into its configuration and runs
 * `bestEffortMigrations` in its database.
 */
@Module({})
export class BestEffortModule {
  /** The service's notification log, dispatchers and routes (imported once, by the root module). */
  static forRoot(options: BestEffortOptions): DynamicModule {
    const channelTypes = options.channels.map((c) => c.channel);
    return {
      module: BestEffortModule,
      global: true,
      imports: [...(options.imports ?? []), TransactionBrowsersModule.forFeature(['best-effort'])],
      controllers: [NotificationsController],
      providers: [
        ...(options.providers ?? []),
        ...channelTypes.filter((type, i) => channelTypes.indexOf(type) === i),
        {
          provide: POLICIES,
          inject: [SERVICE_CONFIG],
          // Asked here, when the module is built: a service without the piece, or with a policy no
          // dispatcher can follow, fails at boot naming it.
          useFactory: (config: ServiceConfig) =>
            channelPolicies(environmentOf(config, BestEffortEnvironment), options.channels),
        },
        {
          provide: CHANNEL_TYPES,
          useValue: new Map(options.channels.map((c) => [c.name, c.channel])),
        },
        { provide: NOTIFICATION_CHANNELS, useValue: options.channels.map((c) => c.name) },
        {
          provide: PostgresNotificationStore,
          inject: [Database],
          useFactory: (db: Database) => new PostgresNotificationStore(db),
        },
        {
          provide: BestEffortMetrics,
          inject: [MetricsRegistry, PostgresNotificationStore],
          useFactory: (metrics: MetricsRegistry, store: PostgresNotificationStore) =>
            new BestEffortMetrics(metrics, () => store.backlog()),
        },
        Notifications,
        BestEffortRuntime,
      ],
      exports: [Notifications, PostgresNotificationStore, BestEffortRuntime],
    };
  }
}
