import { Public } from '../auth/access.decorators';
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

/**
 * The service's readiness checks. PostgreSQL and those given to `PlatformModule.forRoot` are there from
 * the start; a module that brings its own dependency (RabbitMQ for messaging) adds its check at start-up.
 */
export class ReadinessChecks {
  private readonly checks: ReadinessCheck[];

  constructor(initial: ReadinessCheck[]) {
    this.checks = [...initial];
  }

  add(check: ReadinessCheck): void {
    if (!this.checks.some((c) => c.name === check.name)) this.checks.push(check);
  }

  all(): readonly ReadinessCheck[] {
    return this.checks;
  }
}

@ApiTags('health')
@Public()
@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(ReadinessChecks) private readonly checks: ReadinessChecks,
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
      this.checks.all().map((c) => async () => {
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
  /**
   * `extra` adds checks for what else the service uses (Redis, RabbitMQ…); PostgreSQL is checked unless
   * the service has no database (`database: false`).
   */
  static forRoot(extra: ReadinessCheck[] = [], options: { database?: boolean } = {}): DynamicModule {
    const checks =
      options.database === false
        ? { provide: ReadinessChecks, useFactory: () => new ReadinessChecks(extra) }
        : {
            provide: ReadinessChecks,
            inject: [Database],
            useFactory: (db: Database) =>
              new ReadinessChecks([
                { name: 'postgres', check: async () => void (await db.query('SELECT 1')) },
                ...extra,
              ]),
          };
    return {
      module: HealthModule,
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController],
      providers: [checks],
      exports: [ReadinessChecks],
    };
  }
}
