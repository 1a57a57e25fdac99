import { Controller, DynamicModule, Get, Inject, Module } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckResult,
  HealthCheckService,
  HealthIndicatorService,
  TerminusModule,
} from '@nestjs/terminus';
import { Database } from '../database/database';

/** A dependency the service needs to be ready: PostgreSQL always; Redis and RabbitMQ where a service uses them. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export const READINESS_CHECKS = Symbol('READINESS_CHECKS');

@ApiTags('health')
@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[],
  ) {}

  /** The process is up and serving HTTP. */
  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /** Every dependency the service uses answers. */
  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check(
      this.checks.map((c) => async () => {
        const indicator = this.indicators.check(c.name);
        try {
          await c.check();
          return indicator.up();
        } catch (error) {
          return indicator.down({ message: error instanceof Error ? error.message : String(error) });
        }
      }),
    );
  }
}

@Module({})
export class HealthModule {
  /** `extra` adds checks for what else the service uses (Redis, RabbitMQ…); PostgreSQL is always checked. */
  static forRoot(extra: ReadinessCheck[] = []): DynamicModule {
    return {
      module: HealthModule,
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController],
      providers: [
        {
          provide: READINESS_CHECKS,
          inject: [Database],
          useFactory: (db: Database): ReadinessCheck[] => [
            { name: 'postgres', check: async () => void (await db.query('SELECT 1')) },
            ...extra,
          ],
        },
      ],
    };
  }
}
