import { OnApplicationBootstrap, OnApplicationShutdown, Provider } from '@nestjs/common';
import {
  environmentOf,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  ServiceConfig,
  TransactionsEnvironment,
} from '@hospital/platform';
import { Logger } from 'pino';
import { errorMessage } from '../core/observer';

/** How often a service prunes its finished transaction rows. */
export const RETENTION_INTERVAL_MS = 600_000;

/** One table's pruning: deletes its finished rows older than `olderThanMs`, returns how many. */
export interface RetentionTask {
  table: string;
  prune(olderThanMs: number): Promise<number>;
}

/**
 * Prunes finished transaction rows older than `TX_RETENTION_HOURS`, at start-up and then every
 * `RETENTION_INTERVAL_MS`, never two sweeps at once in one process. Several replicas may sweep together:
 * each batch skips the rows another one holds.
 */
export class RetentionSweep implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;
  private stopped = false;

  constructor(
    private readonly tasks: readonly RetentionTask[],
    private readonly retentionMs: number,
    private readonly logger: Logger,
    private readonly intervalMs = RETENTION_INTERVAL_MS,
  ) {}

  onApplicationBootstrap(): void {
    void this.runOnce();
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs);
    this.timer.unref();
  }

  /** One sweep now (or the one already running); resolves with the rows it deleted. */
  runOnce(): Promise<number> {
    if (this.stopped) return Promise.resolve(0);
    this.running ??= this.sweep().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async sweep(): Promise<number> {
    let total = 0;
    for (const task of this.tasks) {
      try {
        const pruned = await task.prune(this.retentionMs);
        total += pruned;
        if (pruned > 0) this.logger.info({ table: task.table, pruned }, 'retention pruned finished rows');
      } catch (error) {
        // The next sweep tries again; the rows only wait longer.
        this.logger.warn({ table: task.table, error: errorMessage(error) }, 'retention sweep failed');
      }
    }
    return total;
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}

/**
 * A module's retention sweep as a provider (token `RetentionSweep`): `tasks` builds its tasks from the
 * providers named in `inject`.
 */
export function retentionProvider(inject: unknown[], tasks: (...deps: never[]) => RetentionTask[]): Provider {
  return {
    provide: RetentionSweep,
    inject: [SERVICE_CONFIG, ROOT_LOGGER, ...(inject as never[])],
    useFactory: (config: ServiceConfig, logger: Logger, ...deps: never[]) =>
      new RetentionSweep(
        tasks(...deps),
        environmentOf(config, TransactionsEnvironment).TX_RETENTION_HOURS * 3_600_000,
        logger,
      ),
  };
}
