import {
  DynamicModule,
  Global,
  Inject,
  MiddlewareConsumer,
  Module,
  NestModule,
  OnApplicationShutdown,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { context } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import { Logger } from 'pino';
import { ACCESS_SERVICE_VERIFIER, ACCESS_TOKEN_VERIFIER, AccessGuard } from '../auth/access.guard';
import { accessTokenSettings, type AccessTokenVerifier, JwksAccessTokenVerifier } from '../auth/access-token';
import { CachingAccessTokenVerifier } from '../auth/cached-access-token';
import { serviceTokenVerifier } from '../auth/service-identity';
import type { ServiceTokenVerifier } from '../auth/service-token';
import { SmartConfigurationController } from '../auth/smart-configuration';
import { SERVICE_CONFIG, ServiceConfig } from '../config/service-config';
import { DatabaseModule } from '../database/database.module';
import type { EntityClass } from '../database/session-entity-manager';
import { HealthModule, ReadinessCheck } from '../health/health';
import { createLogger, logContext } from '../logging/logger';
import { MetricsModule, MetricsRegistry } from '../metrics/metrics';
import { serverSpanContext } from '../tracing/spans';
import { SERVICE_TRACING, ServiceTracing, startTracing } from '../tracing/tracing';
import { ROOT_LOGGER } from './root-logger';

export { ROOT_LOGGER };

/** A header's value when it is one short string (ids only: anything else is not logged). */
const shortHeader = (value: string | string[] | undefined): string | undefined =>
  typeof value === 'string' && value.length <= 100 ? value : undefined;

export interface PlatformOptions {
  /** Readiness checks beyond PostgreSQL, for services that use Redis or RabbitMQ. */
  readiness?: ReadinessCheck[];
  /**
   * TypeORM entities of the service's relational tables, used through `session.repository(Entity)`
   * (docs/adding-a-service.md). Without any, the service has no TypeORM DataSource.
   */
  entities?: EntityClass[];
  /**
   * Whether the service owns a PostgreSQL database (default true). A service without one (the gateway)
   * passes false: no `Database` is provided, no pool is opened, and readiness does not check PostgreSQL.
   */
  database?: boolean;
  /**
   * Verified user tokens kept in memory until their `exp` (`CachingAccessTokenVerifier`), for a service
   * that sees the same tokens many times a second (the gateway). Absent or 0: every token is verified.
   */
  accessTokenCacheEntries?: number;
}

/**
 * What every service gets by importing one module: validated config, its database, structured logs
 * carrying the gtid, `/health/live` and `/health/ready`, `/metrics`, trace spans of every request
 * (`tracing/`), and access control: the global `AccessGuard` on every route (bearer tokens, SMART scopes,
 * roles; see `auth/access.decorators.ts`) and SMART discovery at `/.well-known/smart-configuration`.
 */
@Global()
@Module({})
export class PlatformModule implements NestModule, OnApplicationShutdown {
  constructor(
    @Inject(MetricsRegistry) private readonly metrics: MetricsRegistry,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_TRACING) private readonly tracing: ServiceTracing,
  ) {}

  /** The service's config, logs, metrics, database and health (imported once, by the service's root module). */
  static forRoot(config: ServiceConfig, options: PlatformOptions = {}): DynamicModule {
    const database = options.database !== false;
    return {
      module: PlatformModule,
      imports: [
        ...(database ? [DatabaseModule.forRoot({ entities: options.entities })] : []),
        MetricsModule.forRoot(config.service.name),
        HealthModule.forRoot(options.readiness, { database }),
      ],
      controllers: [SmartConfigurationController],
      providers: [
        { provide: SERVICE_CONFIG, useValue: config },
        { provide: ROOT_LOGGER, useValue: createLogger(config.service.name, config.env.LOG_LEVEL) },
        { provide: SERVICE_TRACING, useFactory: () => startTracing(config.service.name, config.env) },
        {
          provide: ACCESS_TOKEN_VERIFIER,
          useFactory: (): AccessTokenVerifier => {
            const verifier = new JwksAccessTokenVerifier(accessTokenSettings(config.env));
            const entries = options.accessTokenCacheEntries ?? 0;
            return entries > 0 ? new CachingAccessTokenVerifier(verifier, entries) : verifier;
          },
        },
        {
          provide: ACCESS_SERVICE_VERIFIER,
          useFactory: (): ServiceTokenVerifier => serviceTokenVerifier(config),
        },
        { provide: APP_GUARD, useClass: AccessGuard },
      ],
      exports: [
        SERVICE_CONFIG,
        ROOT_LOGGER,
        SERVICE_TRACING,
        ...(database ? [DatabaseModule] : []),
        MetricsModule,
        HealthModule,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply((req: Request, res: Response, next: NextFunction) => this.observe(req, res, next))
      .forRoutes('*path');
  }

  /** Sends the spans not exported yet and, for the last service of the process, stops the tracer provider. */
  onApplicationShutdown(): Promise<void> {
    return this.tracing.release();
  }

  /**
   * Binds the request's `x-gtid` and `x-correlation-id` to its log context, runs it in its trace span
   * (joining the caller's trace through `traceparent`) and records its duration by route template.
   * Between services `x-gtid` is the gtid its coordinator minted; from a client it is only a reference,
   * and a coordinator's own log lines carry the gtid it minted instead.
   */
  private observe(req: Request, res: Response, next: NextFunction): void {
    const started = process.hrtime.bigint();
    const gtid = shortHeader(req.headers['x-gtid']);
    const correlationId = shortHeader(req.headers['x-correlation-id']);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      const labels = { method: req.method, route, status: String(res.statusCode) };
      this.metrics.httpDuration.observe(labels, seconds);
      this.metrics.httpRequests.inc(labels);
      // The route template, never the URL: query strings and ids in paths may identify a patient.
      this.logger.debug({ gtid, correlationId, ...labels, ms: Math.round(seconds * 1000) }, 'request');
    });
    context.with(serverSpanContext(req, res), () => logContext.run({ gtid, correlationId }, next));
  }
}
