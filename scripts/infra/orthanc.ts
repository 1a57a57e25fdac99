// The PACS's DICOM archive: Orthanc with its DICOMweb and ModalityWorklists plugins, run from a config
// directory of our own (never the system's config or service). `OrthancServer` starts one on given ports
// under a given directory and can stop and restart it (tests, fault runs); `ensureOrthanc` makes sure the
// hospital's own answers on 127.0.0.1:8042 (HTTP) and 4242 (DICOM) under `.hospital/orthanc/`, installing
// the Debian packages first when the binary is missing (CI runs as root).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureDebianBinary } from './debian-packages';
import { InfrastructureError, type Log } from './control';

const PLUGINS = '/usr/share/orthanc/plugins';
const BINARY = '/usr/sbin/Orthanc';

export interface OrthancOptions {
  /** Directory holding the config, the storage, the worklist folder and the log. */
  dir: string;
  httpPort: number;
  dicomPort: number;
  /** The archive's AE title (default ORTHANC). */
  aeTitle?: string;
  /** Seconds without a new instance before a study is reported stable (default 1). */
  stableAgeSeconds?: number;
}

/** The paths of an archive's directory. */
export function orthancPaths(dir: string): {
  config: string;
  storage: string;
  worklists: string;
  log: string;
} {
  const root = resolve(dir);
  return {
    config: join(root, 'config'),
    storage: join(root, 'storage'),
    worklists: join(root, 'worklists'),
    log: join(root, 'orthanc.log'),
  };
}

/**
 * The name an archive of `dir` gives itself (`/system`'s Name): tells whether the Orthanc answering on a
 * port serves this directory's worklist folder, or another checkout's.
 */
export function orthancName(dir: string): string {
  return `hospital-pacs-archive-${createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 12)}`;
}

/** Orthanc's configuration: loopback only, no authentication, DICOMweb on, worklists served from our folder. */
export function orthancConfig(options: OrthancOptions): Record<string, unknown> {
  const paths = orthancPaths(options.dir);
  return {
    Name: orthancName(options.dir),
    StorageDirectory: paths.storage,
    IndexDirectory: paths.storage,
    HttpPort: options.httpPort,
    HttpBindAddress: '127.0.0.1',
    DicomPort: options.dicomPort,
    DicomAet: options.aeTitle ?? 'ORTHANC',
    DicomCheckCalledAet: false,
    // Any modality on the network may query the worklist and store: the demo has no modality registry.
    DicomAlwaysAllowEcho: true,
    DicomAlwaysAllowFind: true,
    DicomAlwaysAllowFindWorklist: true,
    DicomAlwaysAllowStore: true,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    StableAge: options.stableAgeSeconds ?? 1,
    Plugins: [join(PLUGINS, 'libOrthancDicomWeb.so'), join(PLUGINS, 'libModalityWorklists.so')],
    Worklists: { Enable: true, Database: paths.worklists },
    DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: false },
  };
}

/** The Orthanc binary, installing the Debian packages (orthanc, orthanc-dicomweb, dcmtk) when it is missing. */
export function ensureOrthancInstalled(log: Log = () => undefined): Promise<string> {
  return ensureDebianBinary(BINARY, ['orthanc', 'orthanc-dicomweb', 'dcmtk'], log);
}

/** Whether an Orthanc answers at `url` (its `/system`). */
export async function orthancAnswers(url: string, timeoutMs = 1_500): Promise<boolean> {
  try {
    const response = await fetch(`${url}/system`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/** The Name an Orthanc answering at `url` gives itself, if it answers. */
async function orthancSystemName(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(`${url}/system`, { signal: AbortSignal.timeout(1_500) });
    return ((await response.json()) as { Name?: string }).Name;
  } catch {
    return undefined;
  }
}

/** One Orthanc process under a directory of its own. */
export class OrthancServer {
  private child?: ChildProcess;
  readonly paths: ReturnType<typeof orthancPaths>;

  constructor(readonly options: OrthancOptions) {
    this.paths = orthancPaths(options.dir);
  }

  get url(): string {
    return `http://127.0.0.1:${this.options.httpPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Writes the config and starts Orthanc, resolving once its REST API answers. `detached`: the process
   * outlives this script (`npm run infra`); otherwise it is this process's child (tests).
   */
  async start(options: { detached?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const binary = existsSync(BINARY) ? BINARY : 'Orthanc';
    for (const dir of [this.paths.config, this.paths.storage, this.paths.worklists])
      mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(this.paths.config, 'orthanc.json'),
      JSON.stringify(orthancConfig(this.options), null, 2),
    );
    const fd = openSync(this.paths.log, 'a');
    try {
      const child = spawn(binary, [this.paths.config], {
        stdio: ['ignore', fd, fd],
        detached: options.detached ?? false,
      });
      child.once('error', () => undefined);
      if (options.detached) child.unref();
      else this.child = child;
      const deadline = Date.now() + (options.timeoutMs ?? 30_000);
      while (!(await orthancAnswers(this.url, 500))) {
        if (child.exitCode !== null || Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new InfrastructureError(
            `Orthanc did not start on ${this.url} (exit ${child.exitCode}); see ${this.paths.log}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Stops the Orthanc this object started (SIGTERM, then SIGKILL after `graceMs`); its storage stays. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Stops and starts it again on the same storage (a restart the PACS must ride through). */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

/** The hospital's archive: HTTP 8042 and DICOM 4242 on loopback, config and data under `.hospital/orthanc/`. */
export const HOSPITAL_ORTHANC: OrthancOptions = {
  dir: '.hospital/orthanc',
  httpPort: 8042,
  dicomPort: 4242,
  aeTitle: 'ORTHANC',
};

/**
 * Makes sure the hospital's archive answers: installs Orthanc when missing and starts it detached when
 * nothing answers on its port. Idempotent and quick when it is up. Returns its REST/DICOMweb base URL.
 */
export async function ensureOrthanc(log: Log = () => undefined): Promise<string> {
  const server = new OrthancServer(HOSPITAL_ORTHANC);
  if (await orthancAnswers(server.url)) {
    const name = await orthancSystemName(server.url);
    if (name !== orthancName(HOSPITAL_ORTHANC.dir))
      log(
        `warning: the Orthanc on ${server.url} (${name ?? 'unnamed'}) was started from another folder: the PACS ` +
          `writes its worklist under ${server.paths.worklists}, which that Orthanc does not serve; stop it to use this one`,
      );
    return server.url;
  }
  await ensureOrthancInstalled(log);
  log(`starting Orthanc on ${server.url} (DICOM ${HOSPITAL_ORTHANC.dicomPort}) under ${server.paths.config}`);
  await server.start({ detached: true });
  return server.url;
}
