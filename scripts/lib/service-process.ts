// Runs a service as a child process for the bench and fault runners: spawn `node <entry>`, wait until
// `/health/ready` answers 200, stop it gracefully (SIGTERM) or kill it (SIGKILL), read its peak memory and
// CPU time from /proc. Every child is killed when the runner exits, on SIGINT and SIGTERM too, so a run
// never leaves services behind.
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When the exit was seen (Date.now()). */
  at: number;
}

export interface StartOptions {
  /** Short name used in messages (emr, lis…). */
  name: string;
  /** Absolute path of the compiled entry point. */
  entry: string;
  /** Options for node itself, before the entry (e.g. `--cpu-prof`). */
  execArgv?: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Port the service listens on (checked free before spawning, then polled for readiness). */
  port: number;
  host?: string;
  cwd?: string;
  /** How long the service may take to become ready. */
  readyTimeoutMs?: number;
  readyPath?: string;
}

/** A service failed to start: the message carries the reason and the tail of its output. */
export class ServiceStartError extends Error {}

const TAIL_BYTES = 16 * 1024;
const live = new Set<ChildProcess>();
let hooksInstalled = false;

/** SIGKILLs every child still running (synchronous: safe in an 'exit' handler). */
export function killAllServices(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  live.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', killAllServices);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllServices();
      process.stderr.write(`\ninterrupted (${signal}): stopped the services this run started\n`);
      // Let the default action end the process now that the children are gone.
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Kills `child` (a broker the runner started, say) with the services when the runner exits or is interrupted. */
export function killWithRunner(child: ChildProcess): void {
  installExitHooks();
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Keeps the last TAIL_BYTES of a stream (a service's stdout or stderr) for error messages. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > TAIL_BYTES && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  lines(count: number): string[] {
    const text = Buffer.concat(this.chunks).toString('utf8');
    return text
      .split('\n')
      .map((l) => l.trimEnd())
      .filter((l) => l.length > 0)
      .slice(-count);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** True when something accepts connections on host:port. */
export function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

function httpStatus(url: string, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode));
      res.once('error', () => resolve(undefined));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(undefined));
    req.end();
  });
}

/** Fields of /proc/<pid>/status in kB (VmHWM, VmRSS…), or undefined once the process is gone. */
function procStatusKb(pid: number, field: string): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux build that matters here. */
const CLOCK_TICKS = 100;

/** User + system CPU seconds a process has used (from /proc/<pid>/stat), or undefined once it is gone. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; the fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** One running service process. */
export class ServiceProcess {
  readonly pid: number;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  private exitInfo?: ExitInfo;
  private readonly stdoutTail = new Tail();
  private readonly stderrTail = new Tail();

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    if (child.pid === undefined) throw new ServiceStartError(`${name}: could not spawn node`);
    this.pid = child.pid;
    child.stdout?.on('data', (chunk: Buffer) => this.stdoutTail.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.stderrTail.push(chunk));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exitInfo = { code, signal, at: Date.now() };
        resolve(this.exitInfo);
      });
    });
  }

  /**
   * Spawns the service and resolves once `/health/ready` answers 200. Rejects with a ServiceStartError that
   * names the reason (port taken, exited, not ready in time) and quotes the end of its output; a service
   * that does not become ready is killed first.
   */
  static async start(options: StartOptions): Promise<ServiceProcess> {
    const host = options.host ?? '127.0.0.1';
    const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
    if (await portInUse(options.port, host)) {
      throw new ServiceStartError(
        `${options.name}: port ${options.port} on ${host} is already in use (another run, or a service left over from one?)`,
      );
    }
    installExitHooks();
    const child = spawn(process.execPath, [...(options.execArgv ?? []), options.entry], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    let service: ServiceProcess;
    try {
      service = new ServiceProcess(options.name, options.port, child);
    } catch (error) {
      live.delete(child);
      throw new ServiceStartError(`${options.name}: ${(await spawnError).message ?? String(error)}`);
    }

    const url = `http://${host}:${options.port}${options.readyPath ?? '/health/ready'}`;
    const deadline = Date.now() + readyTimeoutMs;
    let lastStatus: number | undefined;
    while (Date.now() < deadline) {
      if (service.exitInfo) {
        throw new ServiceStartError(
          `${options.name} exited during start-up (${describeExit(service.exitInfo)})${service.outputTail()}`,
        );
      }
      lastStatus = await httpStatus(url, 2_000);
      if (lastStatus === 200) return service;
      await Promise.race([sleep(100), service.exited]);
    }
    await service.kill();
    throw new ServiceStartError(
      `${options.name} was not ready within ${readyTimeoutMs} ms (${url} last answered ${lastStatus ?? 'nothing'})` +
        service.outputTail(),
    );
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** The last lines the service printed (stderr first, then stdout), for error messages. */
  outputTail(lines = 15): string {
    const err = this.stderrTail.lines(lines);
    const out = this.stdoutTail.lines(lines);
    const parts: string[] = [];
    if (err.length > 0)
      parts.push(`--- ${this.name} stderr (last ${err.length} lines) ---\n${err.join('\n')}`);
    if (out.length > 0)
      parts.push(`--- ${this.name} stdout (last ${out.length} lines) ---\n${out.join('\n')}`);
    return parts.length > 0 ? `\n${parts.join('\n')}` : '';
  }

  /** Peak resident set size (VmHWM) in MiB, or undefined once the process is gone. */
  peakRssMb(): number | undefined {
    const kb = procStatusKb(this.pid, 'VmHWM');
    return kb === undefined ? undefined : kb / 1024;
  }

  /** CPU seconds (user + system) used so far, or undefined once the process is gone. */
  cpuSeconds(): number | undefined {
    return this.alive ? processCpuSeconds(this.pid) : undefined;
  }

  /** Resolves with the exit once the process has exited, or undefined if it is still running after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<ExitInfo | undefined> {
    if (this.exitInfo) return this.exitInfo;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM (the service shuts down gracefully), SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 10_000): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.child.kill('SIGTERM');
    const exit = await this.waitForExit(graceMs);
    return exit ?? this.kill();
  }

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.child.kill('SIGKILL');
    return this.exited;
  }
}

export function describeExit(exit: ExitInfo): string {
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}
