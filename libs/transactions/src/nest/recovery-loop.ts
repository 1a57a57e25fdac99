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
