// Runs the administrative commands (pg_ctlcluster, redis-server, rabbitmq-server…) with a time limit.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr together, trimmed. */
  output: string;
}

/** Shell-style rendering of a command for messages: `pg_ctlcluster --skip-systemctl-redirect 15 main start`. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/**
 * Runs `argv` and resolves with its exit status and output; never rejects for a non-zero exit.
 * Output goes to a temporary file rather than a pipe: daemons started by the command (redis-server
 * --daemonize, rabbitmq-server -detached) may keep inherited descriptors open long after it exits.
 * The command runs in its own process group, so a Ctrl-C aimed at the script does not reach the daemons.
 */
export async function runCommand(argv: readonly string[], timeoutMs: number): Promise<CommandResult> {
  const dir = mkdtempSync(join(tmpdir(), 'hospital-infra-'));
  const file = join(dir, 'output');
  const fd = openSync(file, 'w');
  try {
    let timedOut = false;
    const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
      (resolve) => {
        const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], detached: true });
        const timer = setTimeout(() => {
          timedOut = true;
          try {
            if (child.pid) process.kill(-child.pid, 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
        }, timeoutMs);
        child.once('error', (error) => {
          clearTimeout(timer);
          resolve({ code: null, signal: null, error });
        });
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal });
        });
      },
    );
    const output = readFileSync(file, 'utf8').trim();
    if (result.error) return { code: null, signal: null, output: result.error.message };
    const note = timedOut ? ` (no answer after ${timeoutMs} ms; killed)` : '';
    return { code: result.code, signal: result.signal, output: `${output}${note}`.trim() };
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The last non-empty lines of a command's output, on one line, for an error message. */
export function summarizeOutput(output: string, maxLines = 4): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.slice(-maxLines).join(' | ') || '(no output)';
}
