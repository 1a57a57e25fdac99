import {
  DynamicModule,
  Inject,
  Injectable,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { Redis } from 'ioredis';
import { Logger } from 'pino';
import {
  Database,
  environmentOf,
  ReadinessChecks,
  RedisEnvironment,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  ServiceConfig,
  SqlExecutor,
} from '@hospital/platform';
import { PostgresQuotaLedger } from '../adapters/postgres/postgres-quota-ledger';
import { RedisQuotaStore } from '../adapters/redis/redis-quota-store';
import { QuotaCache } from '../quota-cache/quota-cache';
import { QuotaCacheController } from './quota-cache.controller';
import { QuotaCacheEnvironment } from './quota-cache.environment';
import { quotaCompletionsConsumer, QuotaCompletionsHandler } from './quota-completions.handler';
import { MessagingModule } from './messaging.module';
import { RecoveryLoop } from './recovery-loop';

const REDIS = Symbol('QUOTA_REDIS');

/** Runs the quota sweeper (expiry, settling, rebuilding, returning) and closes Redis on shutdown. */
@Injectable()
export class QuotaCacheRuntime implements OnApplicationBootstrap, OnApplicationShutdown {
  private loop?: RecoveryLoop;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: ServiceConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
    @Inject(QuotaCache) private readonly quota: QuotaCache<SqlExecutor>,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(ReadinessChecks) private readonly readiness: ReadinessChecks,
  ) {}

  onApplicationBootstrap(): void {
    const env = environmentOf(this.config, QuotaCacheEnvironment);
    this.readiness.add({ name: 'redis', check: async () => void (await this.redis.ping()) });
    let lastFull = 0;
    const sweep = () => {
      const full = Date.now() - lastFull >= env.QUOTA_FULL_SWEEP_MS;
      if (full) lastFull = Date.now();
      return this.quota.sweep(full);
    };
    this.loop = new RecoveryLoop('quota-cache', sweep, env.QUOTA_SWEEP_MS, this.logger);
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop?.stop();
    this.redis.disconnect();
  }
}

/**
 * The participant side of the quota-cached saga: the cache in Redis (`REDIS_URL`), the main database's
 * lending record (run `capacityMigrations` and `quotaLedgerMigrations`), `/api/capacity/quota`, the
 * sweeper, and the commit-sync handler — a service with its own `MessagingModule` lists
 * `quotaCompletionsConsumer(<participant>)` among its consumers. Global, so that consumer's handler finds
 * the cache.
 */
@Module({})
export class QuotaCacheModule {
  /**
   * `participant` names the service in completion routing keys (`quota.completed.<participant>`). A service
   * without a `MessagingModule` of its own passes `messaging: true`: one is started here with just the
   * commit-sync consumer (its database then runs the messaging migrations).
   */
  static forRoot(options: { participant: string; messaging?: boolean }): DynamicModule {
    return {
      module: QuotaCacheModule,
      global: true,
      imports: options.messaging
        ? [MessagingModule.forRoot({ consumers: [quotaCompletionsConsumer(options.participant)] })]
        : [],
      controllers: [QuotaCacheController],
      providers: [
        {
          provide: REDIS,
          inject: [SERVICE_CONFIG],
          useFactory: (config: ServiceConfig) =>
            new Redis(environmentOf(config, RedisEnvironment).REDIS_URL, { maxRetriesPerRequest: 2 }),
        },
        {
          provide: PostgresQuotaLedger,
          inject: [Database],
          useFactory: (db: Database) => new PostgresQuotaLedger(db),
        },
        {
          provide: QuotaCache,
          inject: [SERVICE_CONFIG, REDIS, PostgresQuotaLedger],
          useFactory: (config: ServiceConfig, redis: Redis, ledger: PostgresQuotaLedger) => {
            const env = environmentOf(config, QuotaCacheEnvironment);
            const prefix = env.QUOTA_KEY_PREFIX ?? `hospital:${config.service.name}:quota:`;
            return new QuotaCache(new RedisQuotaStore(redis, { prefix }), ledger, {
              reservationTtlMs: env.QUOTA_RESERVATION_TTL_MS,
              lendChunk: env.QUOTA_LEND_CHUNK,
              idleReturnMs: env.QUOTA_IDLE_RETURN_MS,
              lostGraceMs: env.QUOTA_LOST_GRACE_MS,
            });
          },
        },
        QuotaCompletionsHandler,
        QuotaCacheRuntime,
      ],
      exports: [QuotaCache, QuotaCompletionsHandler, PostgresQuotaLedger],
    };
  }
}
