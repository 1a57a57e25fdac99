// Compiles apps/, libs/ and scripts/ to dist/ with SWC, rewriting the @hospital/* path aliases.
// Type-checking is `npm run check`; this stays fast enough to run before every demo, test and bench.
import { transformFile } from '@swc/core';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import aliases from '../tools/tsconfig-paths.js';

const { tsconfigPaths } = aliases;

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'dist');
const sources = ['apps', 'libs', 'scripts'];

const options = {
  sourceMaps: true,
  module: { type: 'commonjs' },
  jsc: {
    target: 'es2022',
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    keepClassNames: true,
    baseUrl: root,
    // The @hospital/* aliases, as tsconfig.json declares them.
    paths: tsconfigPaths(),
  },
};

/** The operations console: a browser app, built by Vite (below), not compiled for Node. */
const consoleDir = join(root, 'apps', 'console');

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (path === consoleDir) continue;
    if (entry.isDirectory()) yield* walk(path);
    else if (/(?<!\.d|\.spec|-spec)\.ts$/.test(entry.name)) yield path;
  }
}

async function compile(file) {
  const target = join(out, file.slice(root.length + 1)).replace(/\.ts$/, '.js');
  const [src, dst] = await Promise.all([stat(file), stat(target).catch(() => undefined)]);
  if (dst && dst.mtimeMs >= src.mtimeMs) return false;
  const { code, map } = await transformFile(file, { ...options, filename: file, sourceFileName: file });
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, `${code}\n//# sourceMappingURL=${target.split('/').pop()}.map`);
  if (map) await writeFile(`${target}.map`, map);
  return true;
}

const files = [];
for (const dir of sources) for await (const file of walk(join(root, dir))) files.push(file);
const results = await Promise.all(files.map(compile));
const built = results.filter(Boolean).length;
if (built > 0) process.stderr.write(`build: compiled ${built} of ${files.length} files to dist/\n`);

// The FHIR R4 definitions split per resource type (libs/fhir/src/definitions/definition-cache.ts), so
// that no service starts by parsing the whole bundles: built once per installation.
const { createRequire } = await import('node:module');
const { ensureDefinitionCache } = createRequire(import.meta.url)(
  join(out, 'libs/fhir/src/definitions/definition-cache.js'),
);
ensureDefinitionCache();

// The operations console (apps/console) to dist/console, which the gateway serves at /console/: built again
// only when a file of it is newer than the last build.
async function newest(dir) {
  let latest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? await newest(path) : (await stat(path)).mtimeMs);
  }
  return latest;
}
const consoleBuilt = await stat(join(out, 'console', 'index.html')).catch(() => undefined);
if (existsSync(consoleDir) && (!consoleBuilt || consoleBuilt.mtimeMs < (await newest(consoleDir)))) {
  const { build } = await import('vite');
  await build({ configFile: join(consoleDir, 'vite.config.ts'), logLevel: 'warn' });
  process.stderr.write('build: built the operations console to dist/console/\n');
}
