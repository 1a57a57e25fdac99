import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * `nest-cli.json` names every service of the monorepo, so that `nest build <project>` builds each one: an
 * application project per `apps/**\/main.ts` (the pharmacy's five parts share one folder), named like its
 * `npm run start:<project>` script. Each builds with `tsc` (which rewrites the `@hospital/*` aliases; the
 * CLI's swc builder takes its options from the top level only, so it cannot compile each app with the
 * libraries) from a `tsconfig.app.json` that includes the app and the libraries and writes to its own folder
 * under `dist-nest/` (never `dist/`, which `scripts/build.mjs` writes).
 */

interface Project {
  type: 'application' | 'library';
  root: string;
  sourceRoot: string;
  entryFile: string;
  compilerOptions?: { tsConfigPath?: string; builder?: unknown; deleteOutDir?: boolean };
}

interface NestCli {
  compilerOptions?: Project['compilerOptions'];
  sourceRoot: string;
  projects: Record<string, Project>;
}

interface TsConfig {
  compilerOptions?: { outDir?: string };
  include?: string[];
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/** Every `main.ts` under `apps/` of `base`, relative to it. */
function entryPoints(base: string): string[] {
  const found: string[] = [];
  const walk = (directory: string): void => {
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
      } else if (entry.name === 'main.ts') found.push(relative(base, path));
    }
  };
  walk(join(base, 'apps'));
  return found.sort();
}

/** True when a tsconfig `include` pattern such as `libs/*\/src/**\/*.ts` takes in every `.ts` file of `dir`. */
function coversFolder(pattern: string, dir: string): boolean {
  if (!pattern.endsWith('/**/*.ts')) return false;
  const prefix = pattern.slice(0, -'**/*.ts'.length).replace(/\./g, '\\.').replace(/\*/g, '[^/]+');
  return new RegExp(`^${prefix}`).test(`${dir}/`);
}

/** What is wrong with `nest-cli.json` in `base`, one line a problem (none: every service builds). */
function nestCliProblems(base: string): string[] {
  const cli = readJson<NestCli>(join(base, 'nest-cli.json'));
  const scripts = readJson<{ scripts: Record<string, string> }>(join(base, 'package.json')).scripts;
  const applications = Object.entries(cli.projects).filter(([, p]) => p.type === 'application');
  const libraries = Object.values(cli.projects).filter((p) => p.type === 'library');
  const problems: string[] = [];

  const mains = entryPoints(base);
  const listed = new Set(applications.map(([, p]) => `${p.sourceRoot}/${p.entryFile}.ts`));
  for (const main of mains)
    if (!listed.has(main)) problems.push(`${main}: no application project in nest-cli.json`);

  for (const [name, project] of applications) {
    const entry = `${project.sourceRoot}/${project.entryFile}`;
    if (!mains.includes(`${entry}.ts`)) problems.push(`${name}: ${entry}.ts does not exist`);
    const start = scripts[`start:${name}`];
    if (start !== `node dist/${entry}.js`)
      problems.push(`${name}: package.json has no "start:${name}": "node dist/${entry}.js"`);

    const options = project.compilerOptions ?? {};
    if (options.builder !== 'tsc') problems.push(`${name}: builder is not tsc`);
    if (!options.tsConfigPath) {
      problems.push(`${name}: no tsConfigPath of its own (the root tsconfig.json writes to dist/)`);
      continue;
    }
    const tsconfig = readJson<TsConfig>(join(base, options.tsConfigPath));
    const fromRoot = (path: string) => relative(base, resolve(base, dirname(options.tsConfigPath!), path));
    const include = (tsconfig.include ?? []).map(fromRoot);
    for (const dir of [project.sourceRoot, ...libraries.map((l) => l.sourceRoot)])
      if (!include.some((pattern) => coversFolder(pattern, dir)))
        problems.push(`${name}: ${options.tsConfigPath} leaves out ${dir}`);
    const outDir = tsconfig.compilerOptions?.outDir;
    const out = outDir === undefined ? 'no outDir' : fromRoot(outDir);
    if (!out.startsWith('dist-nest/'))
      problems.push(`${name}: ${options.tsConfigPath} writes to ${out}, not dist-nest/`);
  }

  // `nest build` without a project builds the default one: with its options, not into dist/.
  const defaultProject = applications.find(([, p]) => p.sourceRoot === cli.sourceRoot)?.[1];
  if (JSON.stringify(cli.compilerOptions) !== JSON.stringify(defaultProject?.compilerOptions))
    problems.push('the top-level compilerOptions are not the default project’s');
  return problems;
}

describe('nest-cli.json', () => {
  it('lists every service entry point as a project that builds it with the libraries into dist-nest/', () => {
    const base = join(__dirname, '..');
    expect(entryPoints(base)).toEqual(
      expect.arrayContaining(['apps/emr/src/main.ts', 'apps/pharmacy/src/message-server/main.ts']),
    );
    expect(nestCliProblems(base)).toEqual([]);
  });

  describe('the check itself', () => {
    let base: string;
    const write = (path: string, content: unknown): void => {
      mkdirSync(join(base, path, '..'), { recursive: true });
      writeFileSync(join(base, path), typeof content === 'string' ? content : JSON.stringify(content));
    };
    const app = (name: string, entryFile = 'main', outDir = `../../dist-nest/${name}`): Project => {
      write(`apps/${name}/tsconfig.app.json`, {
        compilerOptions: { outDir },
        include: ['src/**/*.ts', '../../libs/*/src/**/*.ts'],
      });
      return {
        type: 'application',
        root: `apps/${name}`,
        sourceRoot: `apps/${name}/src`,
        entryFile,
        compilerOptions: { builder: 'tsc', tsConfigPath: `apps/${name}/tsconfig.app.json` },
      };
    };
    const library: Project = {
      type: 'library',
      root: 'libs/kit',
      sourceRoot: 'libs/kit/src',
      entryFile: 'index',
    };
    const setUp = (projects: Record<string, Project>, scripts: Record<string, string>): void => {
      const first = Object.values(projects)[0];
      write('nest-cli.json', {
        sourceRoot: first.sourceRoot,
        compilerOptions: first.compilerOptions,
        projects: { ...projects, kit: library },
      });
      write('package.json', { scripts });
    };

    beforeEach(() => {
      base = mkdtempSync(join(tmpdir(), 'nest-cli-'));
      write('apps/ward/src/main.ts', '');
      write('apps/ward-stock/src/main.ts', '');
      write('apps/ward-stock/node_modules/dep/main.ts', '');
    });
    afterEach(() => {
      rmSync(base, { recursive: true, force: true });
    });

    it('passes a configuration that lists every entry point', () => {
      setUp(
        { ward: app('ward'), 'ward-stock': app('ward-stock') },
        {
          'start:ward': 'node dist/apps/ward/src/main.js',
          'start:ward-stock': 'node dist/apps/ward-stock/src/main.js',
        },
      );
      expect(nestCliProblems(base)).toEqual([]);
    });

    it('names a new service whose main.ts is not listed, and a project whose entry is gone', () => {
      write('apps/ward/src/night/main.ts', '');
      setUp(
        { ward: app('ward'), 'ward-stock': app('ward-stock', 'stock/main') },
        {
          'start:ward': 'node dist/apps/ward/src/main.js',
          'start:ward-stock': 'node dist/apps/ward-stock/src/stock/main.js',
        },
      );
      expect(nestCliProblems(base)).toEqual([
        'apps/ward-stock/src/main.ts: no application project in nest-cli.json',
        'apps/ward/src/night/main.ts: no application project in nest-cli.json',
        'ward-stock: apps/ward-stock/src/stock/main.ts does not exist',
      ]);
    });

    it('names a project without its start script, one that leaves out a library, one that writes to dist/', () => {
      const stock = app('ward-stock', 'main', '../../dist');
      write('apps/ward-stock/tsconfig.app.json', {
        compilerOptions: { outDir: '../../dist' },
        include: ['src/**/*.ts'],
      });
      stock.compilerOptions!.builder = 'swc';
      setUp({ ward: app('ward'), 'ward-stock': stock }, { 'start:ward': 'node dist/apps/ward/src/main.js' });
      expect(nestCliProblems(base)).toEqual([
        'ward-stock: package.json has no "start:ward-stock": "node dist/apps/ward-stock/src/main.js"',
        'ward-stock: builder is not tsc',
        'ward-stock: apps/ward-stock/tsconfig.app.json leaves out libs/kit/src',
        'ward-stock: apps/ward-stock/tsconfig.app.json writes to dist, not dist-nest/',
      ]);
    });

    it('names top-level compiler options that are not the default project’s (a bare `nest build`)', () => {
      setUp(
        { ward: app('ward'), 'ward-stock': app('ward-stock') },
        {
          'start:ward': 'node dist/apps/ward/src/main.js',
          'start:ward-stock': 'node dist/apps/ward-stock/src/main.js',
        },
      );
      const cli = JSON.parse(readFileSync(join(base, 'nest-cli.json'), 'utf8')) as NestCli;
      write('nest-cli.json', { ...cli, compilerOptions: { builder: 'swc', tsConfigPath: 'tsconfig.json' } });
      expect(nestCliProblems(base)).toEqual(['the top-level compilerOptions are not the default project’s']);
    });
  });
});
