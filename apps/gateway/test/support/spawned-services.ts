import { DatabaseSettings } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { ServiceProcess } from '../../../../scripts/lib/service-process';
import { findService, repositoryRoot, serviceEntry } from '../../../../scripts/services';

export const url = (port: number): string => `http://127.0.0.1:${port}`;

/**
 * Services of a gateway spec as real processes from `dist/` (built by `npm test` or `node scripts/build.mjs`),
 * each on a fresh database of its own named `hospital_<service>_<suffix>_t…`, all sharing `env` (the peers'
 * URLs, the messaging namespace) on top of the spec's own environment (its token issuer).
 */
export class SpawnedServices {
  readonly processes: ServiceProcess[] = [];
  private readonly drops: (() => Promise<void>)[] = [];

  constructor(
    private readonly suffix: string,
    private readonly env: Record<string, string>,
  ) {}

  /** A fresh database with `name`'s migrations, dropped by `stop()`. */
  async database(name: string): Promise<DatabaseSettings> {
    const { settings, drop } = await createTestDatabase(`${name}-${this.suffix}`, [
      ...findService(name).migrations,
    ]);
    this.drops.push(drop);
    return settings;
  }

  /** `name` from `dist/` on `port`, ready (its `/health/ready` answered 200) when this resolves. */
  async spawn(name: string, port: number, env: Record<string, string> = {}): Promise<ServiceProcess> {
    const service = await ServiceProcess.start({
      name,
      entry: serviceEntry(name),
      cwd: repositoryRoot(),
      port,
      env: {
        ...process.env,
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
        PORT: String(port),
        ...this.env,
        ...env,
      },
      readyTimeoutMs: 30_000,
    });
    this.processes.push(service);
    return service;
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((service) => service.stop().catch(() => undefined)));
    for (const drop of this.drops) await drop().catch(() => undefined);
  }
}
