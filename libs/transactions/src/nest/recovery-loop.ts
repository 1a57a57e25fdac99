import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Logger } from 'pino';
import { errorMessage } from '../core/observer';

/**
 * Runs a recovery sweep at start-up and then every `intervalMs` (never two at once in one process;
 * across replicas the sweeps claim work with leases or SKIP LOCKED).
 */
export class RecoveryLoop {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly name: string,
    private readonly sweep: () => Promise<number>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    void this.runOnce();
    if (this.intervalMs > 0) {
      this.timer = setInterval(() => void this.runOnce(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** One sweep now (or the one already running); resolves when it is done. */
  runOnce(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.sweep()
      .then((count) => {
        if (count > 0)
          this.logger.info({ recovery: this.name, count }, 'recovery sweep finished transactions');
      })
      .catch((error: unknown) =>
        this.logger.warn({ recovery: this.name, error: errorMessage(error) }, 'recovery sweep failed'),
      )
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}

/** Provider token of a transaction module's recovery loops (each module provides its own). */
export const RECOVERY_LOOPS = Symbol('RECOVERY_LOOPS');

/**
 * A transaction module's recovery loops: started with the service, stopped with it, and run once on
 * demand (tests, admin tooling).
 */
@Injectable()
export class RecoveryLoops implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(RECOVERY_LOOPS) private readonly loops: RecoveryLoop[]) {}

  onApplicationBootstrap(): void {
    for (const loop of this.loops) loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.loops.map((loop) => loop.stop()));
  }

  /** One sweep of every loop now; resolves when they are done. */
  async runOnce(): Promise<void> {
    await Promise.all(this.loops.map((loop) => loop.runOnce()));
  }
}
