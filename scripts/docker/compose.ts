// Docker Compose for the test: `docker compose` (v2) where the plugin is installed, else Debian's
// `docker-compose` (v1.29, installed when neither is there). v1 has no `up --wait`, so readiness is watched
// here for both: every container running and healthy (or without a health check), the one-shot jobs
// exited 0.
import { capture, formatDuration, type Log, run, sleep } from './process';

export interface ComposeOptions {
  /** The compose file, relative to `cwd`. */
  file: string;
  project: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: Log;
  logFile: string;
  /** Interrupts `up` and the wait (Ctrl-C); `down` always runs to its end. */
  signal?: AbortSignal;
}

/** One container of the project as `docker ps` shows it. */
export interface ContainerState {
  service: string;
  /** The container's name (`<project>_<service>_<n>` or `<project>-<service>-<n>`). */
  name: string;
  /** Its replica number within the service, from 1. */
  number: number;
  /** created, running, restarting, exited… */
  state: string;
  /** e.g. `Up 12 seconds (healthy)`, `Exited (0) 3 seconds ago`. */
  status: string;
}

export type Readiness = 'ready' | 'waiting' | 'failed';

/** Whether a container is where `up --wait` wants it; `oneShot` services must have exited 0. */
export function readiness(container: ContainerState, oneShot: boolean): Readiness {
  const exited = /^Exited \((\d+)\)/.exec(container.status);
  if (oneShot) {
    if (exited) return exited[1] === '0' ? 'ready' : 'failed';
    return 'waiting';
  }
  // A service that exited or crash-loops (restart: unless-stopped) has failed: its dependencies were ready.
  if (exited || container.state === 'dead' || container.state === 'restarting') return 'failed';
  if (container.state !== 'running') return 'waiting';
  if (container.status.includes('(unhealthy)')) return 'failed';
  if (container.status.includes('(health: starting)')) return 'waiting';
  return 'ready';
}

export class Compose {
  private constructor(
    private readonly command: readonly string[],
    readonly version: string,
    private readonly options: ComposeOptions,
  ) {}

  /** `docker compose` if it answers, else `docker-compose`, installed from Debian when missing. */
  static async detect(options: ComposeOptions): Promise<Compose> {
    const v2 = await capture(['docker', 'compose', 'version', '--short'], { env: options.env });
    if (v2.code === 0) return new Compose(['docker', 'compose'], `v${v2.stdout.trim()}`, options);
    let v1 = await capture(['docker-compose', 'version', '--short'], { env: options.env });
    if (v1.code !== 0) {
      options.log(
        'neither `docker compose` nor `docker-compose` is installed: apt-get install -y docker-compose',
      );
      const aptEnv = { ...options.env, DEBIAN_FRONTEND: 'noninteractive' };
      await run(['apt-get', 'update'], { logFile: options.logFile, env: aptEnv, timeoutMs: 300_000 });
      await run(['apt-get', 'install', '-y', '--no-install-recommends', 'docker-compose'], {
        logFile: options.logFile,
        env: aptEnv,
        timeoutMs: 600_000,
      });
      v1 = await capture(['docker-compose', 'version', '--short'], { env: options.env });
      if (v1.code !== 0)
        throw new Error(`docker-compose does not run after its install: ${v1.stderr.trim()}`);
    }
    return new Compose(['docker-compose'], `v${v1.stdout.trim()}`, options);
  }

  get name(): string {
    return this.command.join(' ');
  }

  private argv(args: readonly string[]): string[] {
    return [...this.command, '-p', this.options.project, '-f', this.options.file, ...args];
  }

  /** Runs a compose command with its output in the log. */
  exec(args: readonly string[], timeoutMs = 600_000, signal?: AbortSignal): Promise<unknown> {
    return run(this.argv(args), {
      logFile: this.options.logFile,
      env: this.options.env,
      cwd: this.options.cwd,
      timeoutMs,
      signal,
    });
  }

  async services(): Promise<string[]> {
    const result = await capture(this.argv(['config', '--services']), { env: this.options.env });
    if (result.code !== 0) throw new Error(`${this.name} config --services failed: ${result.stderr.trim()}`);
    return result.stdout.split('\n').filter((s) => s.trim() !== '');
  }

  async containers(): Promise<ContainerState[]> {
    const result = await capture(
      [
        'docker',
        'ps',
        '--all',
        '--filter',
        `label=com.docker.compose.project=${this.options.project}`,
        '--format',
        '{{.Label "com.docker.compose.service"}}\t{{.Label "com.docker.compose.container-number"}}\t{{.Names}}\t{{.State}}\t{{.Status}}',
      ],
      { env: this.options.env },
    );
    return result.stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const [service, number, name, state, status] = line.split('\t');
        return { service, number: Number(number), name, state, status };
      })
      .sort((a, b) => a.service.localeCompare(b.service) || a.number - b.number);
  }

  /**
   * `up -d` (no build: the images are built before) with `scale` replicas of the services it names (`--scale`),
   * reporting progress every `everyMs` while compose starts the containers in dependency order and until
   * every one is ready; throws naming the containers that failed or are still not ready after `timeoutMs`.
   */
  async upAndWait(
    oneShot: ReadonlySet<string>,
    timeoutMs: number,
    scale: Readonly<Record<string, number>> = {},
    everyMs = 15_000,
  ): Promise<void> {
    const began = Date.now();
    const expected = (await this.services()).flatMap((service) =>
      Array.from({ length: scale[service] ?? 1 }, (_, i) => ({ service, number: i + 1 })),
    );
    const scaleArgs = Object.entries(scale).flatMap(([service, n]) => ['--scale', `${service}=${n}`]);
    let upDone = false;
    let upError: Error | undefined;
    const up = this.exec(
      ['up', '-d', '--no-build', '--remove-orphans', ...scaleArgs],
      timeoutMs,
      this.options.signal,
    ).then(
      () => void (upDone = true),
      (error: unknown) => {
        upDone = true;
        upError = error instanceof Error ? error : new Error(String(error));
      },
    );
    let lastReport = 0;
    try {
      for (;;) {
        await sleep(2_000);
        if (this.options.signal?.aborted) throw new Error('interrupted');
        const states = new Map((await this.containers()).map((c) => [`${c.service}#${c.number}`, c]));
        const verdicts = expected.map(({ service, number }) => {
          const container = states.get(`${service}#${number}`);
          const verdict: Readiness = container ? readiness(container, oneShot.has(service)) : 'waiting';
          return { service: number > 1 ? `${service} #${number}` : service, container, verdict };
        });
        const failed = verdicts.filter((v) => v.verdict === 'failed');
        const waiting = verdicts.filter((v) => v.verdict === 'waiting');
        if (failed.length > 0)
          throw new Error(
            `not ready: ${failed.map((f) => `${f.service} (${f.container?.status ?? 'no container'})`).join(', ')}`,
          );
        if (upDone && upError !== undefined) throw upError;
        if (upDone && waiting.length === 0) {
          this.options.log(`all ${expected.length} services ready in ${formatDuration(Date.now() - began)}`);
          return;
        }
        if (Date.now() - began > timeoutMs)
          throw new Error(
            `still not ready after ${formatDuration(timeoutMs)}: ${waiting
              .map((w) => `${w.service} (${w.container?.status ?? 'not created'})`)
              .join(', ')}`,
          );
        if (Date.now() - lastReport >= everyMs) {
          lastReport = Date.now();
          const ready = expected.length - waiting.length;
          const shown = waiting
            .slice(0, 6)
            .map((w) => `${w.service} (${w.container ? shortStatus(w.container) : 'not created'})`);
          this.options.log(
            `${formatDuration(Date.now() - began)}: ${ready}/${expected.length} ready; waiting for ${shown.join(', ')}${waiting.length > 6 ? ` and ${waiting.length - 6} more` : ''}`,
          );
        }
      }
    } finally {
      await up;
    }
  }

  /** The address of a container on the project's network (the host reaches it directly). */
  async address(container: string): Promise<string> {
    const result = await capture(
      [
        'docker',
        'inspect',
        '--format',
        '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}',
        container,
      ],
      { env: this.options.env },
    );
    const address = result.stdout.trim().split(/\s+/)[0];
    if (result.code !== 0 || !address)
      throw new Error(`docker inspect ${container} names no address: ${result.stderr.trim()}`);
    return address;
  }

  /** The host port a container's `port` is published on. */
  async publishedPort(container: string, port: number): Promise<number> {
    const result = await capture(['docker', 'port', container, `${port}/tcp`], { env: this.options.env });
    const published = /:(\d+)\s*$/m.exec(result.stdout)?.[1];
    if (result.code !== 0 || !published)
      throw new Error(`docker port ${container} ${port} names no host port: ${result.stderr.trim()}`);
    return Number(published);
  }

  /** Turns a container's restart policy off, so that a `kill` keeps it down until `revive`. */
  async holdDown(container: string): Promise<void> {
    await run(['docker', 'update', '--restart', 'no', container], {
      logFile: this.options.logFile,
      env: this.options.env,
    });
  }

  /** SIGKILL to a container (held down first): a replica dying in the middle of its work, no graceful shutdown. */
  async kill(container: string): Promise<void> {
    await run(['docker', 'kill', '--signal', 'KILL', container], {
      logFile: this.options.logFile,
      env: this.options.env,
    });
  }

  /** Starts a killed container again with the compose file's restart policy. */
  async revive(container: string): Promise<void> {
    await run(['docker', 'update', '--restart', 'unless-stopped', container], {
      logFile: this.options.logFile,
      env: this.options.env,
    });
    await run(['docker', 'start', container], { logFile: this.options.logFile, env: this.options.env });
  }

  /** The last lines of each named service's log, for a failure report. */
  async logs(services: readonly string[], lines = 25): Promise<string> {
    const result = await capture(this.argv(['logs', '--no-color', '--tail', String(lines), ...services]), {
      env: this.options.env,
      timeoutMs: 60_000,
    });
    return `${result.stdout}${result.stderr}`.trim();
  }

  /** `down -v`: containers, networks and volumes of the project gone. */
  async down(): Promise<void> {
    await this.exec(['down', '-v', '--remove-orphans', '--timeout', '20'], 300_000);
  }
}

function shortStatus(container: ContainerState): string {
  if (container.status.includes('(health: starting)')) return 'starting';
  if (container.state === 'running') return 'running';
  return container.state;
}
