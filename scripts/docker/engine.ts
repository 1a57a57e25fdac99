// Makes sure a Docker engine answers: the one the environment points at (DOCKER_HOST or the default socket),
// else a dockerd of our own, installed from Debian's docker.io when missing and started in the background
// with its own data root, exec root and pidfile, without touching the host's iptables. It is left running.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { capture, formatDuration, type Log, run, sleep } from './process';

/** Where our own engine keeps its images, state and log. */
export const OWN_ENGINE = {
  dataRoot: '/var/lib/hospital-docker',
  execRoot: '/var/run/hospital-docker',
  pidfile: '/var/run/hospital-docker.pid',
  log: '/var/log/hospital-dockerd.log',
  /** The socket when the default one is held by something that does not answer as an engine. */
  ownSocket: '/var/run/hospital-docker.sock',
  defaultSocket: '/var/run/docker.sock',
} as const;

export interface Engine {
  /** The environment every docker command runs with (DOCKER_HOST set when the engine is on our own socket). */
  env: NodeJS.ProcessEnv;
  /** Server version, e.g. 20.10.24+dfsg1. */
  version: string;
  /** Whether this run started it. */
  started: boolean;
}

async function serverVersion(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const info = await capture(['docker', 'version', '--format', '{{.Server.Version}}'], {
    env,
    timeoutMs: 15_000,
  });
  const version = info.stdout.trim();
  return info.code === 0 && version !== '' ? version : undefined;
}

function pidAlive(pidfile: string): boolean {
  try {
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function hasCommand(name: string): Promise<boolean> {
  return capture(['sh', '-c', `command -v ${name}`]).then((r) => r.code === 0);
}

async function waitForEngine(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const version = await serverVersion(env);
    if (version !== undefined || Date.now() > deadline) return version;
    await sleep(500);
  }
}

/**
 * The engine to use: an answering one as is; our own if its pidfile names a live dockerd still starting;
 * otherwise dockerd is installed if missing and started. Throws with the daemon log's last lines if it
 * does not answer within a minute.
 */
export async function ensureEngine(log: Log, logFile: string): Promise<Engine> {
  const ambient = await serverVersion(process.env);
  if (ambient !== undefined) {
    log(
      `Docker engine ${ambient} answers (${process.env.DOCKER_HOST ?? `unix://${OWN_ENGINE.defaultSocket}`})`,
    );
    return { env: { ...process.env }, version: ambient, started: false };
  }
  const ownSocketEnv = { ...process.env, DOCKER_HOST: `unix://${OWN_ENGINE.ownSocket}` };
  if (existsSync(OWN_ENGINE.ownSocket) && pidAlive(OWN_ENGINE.pidfile)) {
    const version = await waitForEngine(ownSocketEnv, 30_000);
    if (version !== undefined) {
      log(`Docker engine ${version} answers on our own socket unix://${OWN_ENGINE.ownSocket}`);
      return { env: ownSocketEnv, version, started: false };
    }
  }
  if (pidAlive(OWN_ENGINE.pidfile))
    throw new Error(
      `a dockerd from an earlier run (pidfile ${OWN_ENGINE.pidfile}) is alive but does not answer; see ${OWN_ENGINE.log}`,
    );

  if (!(await hasCommand('dockerd'))) {
    log(
      'dockerd is missing: apt-get install -y docker.io (Debian’s engine; the docker client stays as it is)',
    );
    const began = Date.now();
    const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run(['apt-get', 'update'], { logFile, env: aptEnv, timeoutMs: 300_000 });
    await run(['apt-get', 'install', '-y', '--no-install-recommends', 'docker.io'], {
      logFile,
      env: aptEnv,
      timeoutMs: 600_000,
    });
    log(`docker.io installed in ${formatDuration(Date.now() - began)}`);
  }

  // The default socket unless something holds it without answering (another engine, starting or stuck).
  const socket = existsSync(OWN_ENGINE.defaultSocket) ? OWN_ENGINE.ownSocket : OWN_ENGINE.defaultSocket;
  const env =
    socket === OWN_ENGINE.defaultSocket
      ? { ...process.env, DOCKER_HOST: `unix://${OWN_ENGINE.defaultSocket}` }
      : ownSocketEnv;
  // Another engine's default bridge (docker0) is left alone: ours then has none (compose makes its own).
  const bridge = existsSync('/sys/class/net/docker0') ? ['--bridge=none'] : [];
  const argv = [
    'dockerd',
    `--host=unix://${socket}`,
    `--data-root=${OWN_ENGINE.dataRoot}`,
    `--exec-root=${OWN_ENGINE.execRoot}`,
    `--pidfile=${OWN_ENGINE.pidfile}`,
    '--iptables=false',
    ...bridge,
  ];
  for (const dir of [OWN_ENGINE.dataRoot, OWN_ENGINE.execRoot]) mkdirSync(dir, { recursive: true });
  log(`starting ${argv.join(' ')} (log ${OWN_ENGINE.log})`);
  const began = Date.now();
  const fd = openSync(OWN_ENGINE.log, 'a');
  try {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], detached: true });
    child.once('error', () => undefined);
    child.unref();
  } finally {
    closeSync(fd);
  }
  const version = await waitForEngine(env, 60_000);
  if (version === undefined) {
    const tail = existsSync(OWN_ENGINE.log)
      ? readFileSync(OWN_ENGINE.log, 'utf8').trim().split('\n').slice(-15).join('\n')
      : '(no log)';
    throw new Error(
      `dockerd did not answer on unix://${socket} within 60 s; ${OWN_ENGINE.log} ends:\n${tail}`,
    );
  }
  log(`Docker engine ${version} up on unix://${socket} in ${formatDuration(Date.now() - began)}`);
  return { env, version, started: true };
}
