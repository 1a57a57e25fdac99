// Commands of the Docker test (docker, debootstrap, npm pack, apt-get): run with their output appended to a
// log file, so a build that takes minutes prints one progress line instead of thousands, and a failure
// quotes its last lines.
import { spawn, type SpawnOptions } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';

export type Log = (line: string) => void;

/** A command that exited non-zero (or could not start): the command line, its status and its last lines. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly argv: readonly string[],
    readonly status: string,
    readonly tail: string,
  ) {
    super(`\`${formatCommand(argv)}\` ${status}${tail ? `:\n${tail}` : ''}`);
  }
}

/** Shell-style rendering of a command for messages and the log. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export interface RunOptions {
  /** File the command's stdout and stderr are appended to (after a `$ command` line). */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Killed (the whole process group) after this long; no limit by default. */
  timeoutMs?: number;
  /** Text written to the command's standard input. */
  input?: string | Buffer;
  /** Resolve with the status instead of throwing when the command fails. */
  allowFailure?: boolean;
  /** Aborting it kills the command (its whole process group), as a time-out does. */
  signal?: AbortSignal;
}

export interface RunResult {
  code: number | null;
  /** The log's lines this command wrote, last 40. */
  tail: string;
}

function lastLines(text: string, count: number): string {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-count)
    .join('\n');
}

/** Runs `argv` with its output appended to `options.logFile`; throws a CommandError when it fails. */
export async function run(argv: readonly string[], options: RunOptions): Promise<RunResult> {
  if (options.signal?.aborted) throw new CommandError(argv, 'was not started (interrupted)', '');
  appendFileSync(options.logFile, `\n$ ${formatCommand(argv)}\n`);
  const start = readFileSync(options.logFile).length;
  const fd = openSync(options.logFile, 'a');
  let timedOut = false;
  let aborted = false;
  try {
    const spawnOptions: SpawnOptions = {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', fd, fd],
      env: options.env ?? process.env,
      cwd: options.cwd,
      detached: true,
    };
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(argv[0], argv.slice(1), spawnOptions);
      const kill = (): void => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              kill();
            }, options.timeoutMs);
      const onAbort = (): void => {
        aborted = true;
        kill();
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      child.once('exit', () => options.signal?.removeEventListener('abort', onAbort));
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new CommandError(argv, `could not start (${error.message})`, ''));
      });
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
      if (options.input !== undefined) {
        child.stdin?.on('error', () => undefined);
        child.stdin?.end(options.input);
      }
    });
    const tail = lastLines(readFileSync(options.logFile).subarray(start).toString('utf8'), 40);
    if (code !== 0 && !options.allowFailure) {
      const status = aborted
        ? 'was interrupted'
        : timedOut
          ? `was killed after ${options.timeoutMs} ms`
          : `exited with status ${code}`;
      throw new CommandError(argv, status, tail);
    }
    return { code, tail };
  } finally {
    closeSync(fd);
  }
}

export interface CaptureResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a short command and resolves with its output (never throws for a non-zero status). */
export function capture(
  argv: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<CaptureResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, stdout: '', stderr: error.message });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    // A command that exits before reading its input must not fail this process with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input);
  });
}

/** `12.3 s` or `2 min 05 s`. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
