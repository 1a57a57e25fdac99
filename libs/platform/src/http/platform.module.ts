import { DynamicModule, Global, Inject, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { Logger } from 'pino';
import { SERVICE_CONFIG, ServiceConfig } from '../config/service-config';
import { DatabaseModule } from '../database/database.module';
import { HealthModule, ReadinessCheck } from '../health/health';
import { createLogger, logContext } from '../logging/logger';
import { MetricsModule, MetricsRegistry } from '../metrics/metrics';

export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

export interface PlatformOptions {
  /** Readiness checks beyond PostgreSQL, for services that use Redis or RabbitMQ. */
  readiness?: ReadinessCheck[];
}

/**
 * What every service gets by importing one module: validated config, its database, structured logs
 * carrying the gtid, `/health/live` and `/health/ready`, `/metrics`.
 */
@Global()
@Module({})
export class PlatformModule implements NestModule {
  constructor(
    @Inject(MetricsRegistry) private readonly metrics: MetricsRegistry,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {}

  static forService(config: ServiceConfig, options: PlatformOptions = {}): DynamicModule {
    return {
      module: PlatformModule,
      imports: [
        DatabaseModule.forRoot(),
        MetricsModule.forService(config.service.name),
        HealthModule.forRoot(options.readiness),
      ],
      providers: [
        { provide: SERVICE_CONFIG, useValue: config },
        { provide: ROOT_LOGGER, useValue: createLogger(config.service.name, config.env.LOG_LEVEL) },
      ],
      exports: [SERVICE_CONFIG, ROOT_LOGGER, DatabaseModule, MetricsModule, HealthModule],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply((req: Request, res: Response, next: NextFunction) => this.observe(req, res, next))
      .forRoutes('*path');
  }

  /** Binds the gtid header to the request's log context and records its duration by route template. */
  private observe(req: Request, res: Response, next: NextFunction): void {
    const started = process.hrtime.bigint();
    const header = req.headers['x-gtid'];
    const gtid = typeof header === 'string' && header.length <= 100 ? header : undefined;
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      const labels = { method: req.method, route, status: String(res.statusCode) };
      this.metrics.httpDuration.observe(labels, seconds);
      this.metrics.httpRequests.inc(labels);
      // The route template, never the URL: query strings and ids in paths may identify a patient.
      this.logger.debug({ gtid, ...labels, ms: Math.round(seconds * 1000) }, 'request');
    });
    logContext.run({ gtid }, next);
  }
}
