// The mutation run behind `npm run mutation` (scripts/mutation.ts): checks each catalogued mutant against
// the code as it is, then applies them one at a time in a throw-away copy of the tree and runs the specs
// named for each. The working tree is never written to, so an interrupted run leaves nothing mutated.
import { spawn } from 'node:child_process';
import { existsSync, realpathSync, rmSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import ts from 'typescript';

/** The folder the catalogue's `file` paths are relative to. */
export const MUTATION_ROOT = 'libs/transactions/src';

/** What part of the protocol a mutant breaks; the issue asks for no survivor in commit, abort, lease and inbox. */
export type MutantArea =
  | 'prepare'
  | 'commit'
  | 'abort'
  | 'lease'
  | 'claim'
  | 'recovery'
  | 'inbox'
  | 'outbox'
  | 'publish'
  | 'consume'
  | 'dead-letter'
  | 'check-back';

/** One reviewed mutation: replace the only occurrence of `find` in `file` by `replace`. */
export interface MutantEntry {
  /** Unique, stable name used in reports (`<file's short name>/<what it breaks>`). */
  readonly id: string;
  /** Source file, relative to libs/transactions/src. */
  readonly file: string;
  /** Exact text to replace; it must occur exactly once in the file, or the entry is stale. */
  readonly find: string;
  readonly replace: string;
  /** One line: the defect the mutant plants, as a reviewer would word it. */
  readonly description: string;
  readonly area: MutantArea;
  /** Spec files (from the repository root) expected to kill it; `.int-spec.ts` run in the integration project. */
  readonly specs: readonly string[];
}

/** A catalogue entry that no longer fits the code, with why. */
export interface StaleEntry {
  readonly id: string;
  readonly file: string;
  readonly problem: string;
}

/** Killed and timeout count only when the specs failed twice in a row with the mutant in place. */
export type MutantStatus = 'killed' | 'survived' | 'timeout';

export interface MutantResult {
  readonly entry: MutantEntry;
  readonly status: MutantStatus;
  readonly durationMs: number;
  /** The first failing test jest named, when it was killed by an assertion. */
  readonly killedBy?: string;
  /** The specs failed once and passed when run again: counted as survived. */
  readonly flaky?: boolean;
}

/** The folder a mutant is scored under: its file's directory below libs/transactions/src. */
export const folderOf = (entry: MutantEntry): string => posix.dirname(entry.file);

/** Whether `only` (a folder, a file or an id; with or without the libs/transactions/src/ prefix) selects `entry`. */
export function selects(only: string, entry: MutantEntry): boolean {
  const wanted = only.replace(/^\.\//, '').replace(/\/+$/, '');
  const relative = wanted.startsWith(`${MUTATION_ROOT}/`) ? wanted.slice(MUTATION_ROOT.length + 1) : wanted;
  if (relative === MUTATION_ROOT || relative === '') return true;
  return entry.id === wanted || entry.file === relative || entry.file.startsWith(`${relative}/`);
}

const occurrences = (text: string, find: string): number => {
  if (find === '') return 0;
  let count = 0;
  for (let at = text.indexOf(find); at !== -1; at = text.indexOf(find, at + find.length)) count += 1;
  return count;
};

/** The mutated source of `entry`, given the file's current text (callers check `validate` first). */
export const mutate = (text: string, entry: MutantEntry): string =>
  text.replace(entry.find, () => entry.replace);

/**
 * Checks every entry against the files under `root` without running anything: unique ids, an existing file,
 * `find` present exactly once, a replacement that changes the text and still parses, spec files that exist.
 */
export async function validate(root: string, entries: readonly MutantEntry[]): Promise<StaleEntry[]> {
  const stale: StaleEntry[] = [];
  const seen = new Set<string>();
  const texts = new Map<string, string | undefined>();
  for (const entry of entries) {
    const problems: string[] = [];
    if (seen.has(entry.id)) problems.push('duplicate id');
    seen.add(entry.id);
    const path = join(root, MUTATION_ROOT, entry.file);
    if (!texts.has(path)) texts.set(path, await readFile(path, 'utf8').catch(() => undefined));
    const text = texts.get(path);
    if (text === undefined) problems.push(`file ${MUTATION_ROOT}/${entry.file} not found`);
    else {
      const count = occurrences(text, entry.find);
      if (count !== 1) problems.push(`find text occurs ${count} times (expected exactly once)`);
      else if (entry.find === entry.replace) problems.push('replacement equals the find text');
      else {
        const syntax = syntaxErrors(mutate(text, entry), path);
        if (syntax) problems.push(`mutated file does not parse: ${syntax}`);
      }
    }
    if (entry.specs.length === 0) problems.push('no spec files named');
    for (const spec of entry.specs)
      if (!existsSync(join(root, spec))) problems.push(`spec ${spec} not found`);
    if (problems.length > 0) stale.push({ id: entry.id, file: entry.file, problem: problems.join('; ') });
  }
  return stale;
}

/** The first syntax error of a TypeScript source, or undefined (types are not checked: jest does not either). */
function syntaxErrors(text: string, fileName: string): string | undefined {
  const { diagnostics = [] } = ts.transpileModule(text, {
    fileName,
    reportDiagnostics: true,
    compilerOptions: { target: ts.ScriptTarget.ES2022, experimentalDecorators: true },
  });
  const [first] = diagnostics;
  return first ? ts.flattenDiagnosticMessageText(first.messageText, ' ') : undefined;
}

/** A throw-away copy of the parts of the tree jest needs, sharing node_modules with the checkout. */
export class ScratchTree {
  private constructor(readonly root: string) {}

  static async create(original: string): Promise<ScratchTree> {
    const root = await mkdtemp(join(tmpdir(), 'hospital-mutation-'));
    scratchRoots.add(root);
    for (const name of ['package.json', 'jest.config.js', 'tsconfig.json']) {
      await cp(join(original, name), join(root, name));
    }
    for (const name of ['libs', 'apps', 'scripts', 'tools']) {
      await cp(join(original, name), join(root, name), {
        recursive: true,
        filter: (source) => !/[/\\](node_modules|dist|coverage)$/.test(source),
      });
    }
    await symlink(realpathSync(join(original, 'node_modules')), join(root, 'node_modules'), 'dir');
    return new ScratchTree(root);
  }

  /** Applies `entry` to the copy, runs `body`, and puts the file back whatever happens. */
  async withMutant<T>(entry: MutantEntry, body: () => Promise<T>): Promise<T> {
    // The copy's own text, so edits to the checkout during a run change nothing in it.
    const path = join(this.root, MUTATION_ROOT, entry.file);
    const original = await readFile(path, 'utf8');
    if (occurrences(original, entry.find) !== 1)
      throw new Error(`${entry.id}: find text no longer matches once`);
    await writeFile(path, mutate(original, entry));
    try {
      return await body();
    } finally {
      await writeFile(path, original);
    }
  }

  async remove(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
    scratchRoots.delete(this.root);
  }
}

/** Copies made so far, removed by `removeScratchTreesNow` even while one is still being filled. */
const scratchRoots = new Set<string>();

/** Removes every copy at once, for an interrupt that exits before any promise settles. */
export function removeScratchTreesNow(): void {
  for (const root of scratchRoots) rmSync(root, { recursive: true, force: true });
  scratchRoots.clear();
}

export interface SpecRun {
  readonly passed: boolean;
  readonly timedOut: boolean;
  readonly durationMs: number;
  /** The first failing test jest named (`● suite › test`), if any. */
  readonly firstFailure?: string;
  /** The tail of jest's output, for a baseline that fails. */
  readonly output: string;
}

/** The jest project a spec file belongs to (jest.config.js). */
const projectOf = (spec: string): string => (spec.endsWith('.int-spec.ts') ? 'integration' : 'unit');

/** Child processes of the run, killed (with their process groups) on an interrupt. */
const running = new Set<number>();

export function killRunningSpecs(): void {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  running.clear();
}

/** Runs `specs` with jest in `root`; a run longer than `timeoutMs` is killed and reported as timed out. */
export function runSpecs(root: string, specs: readonly string[], timeoutMs: number): Promise<SpecRun> {
  const projects = [...new Set(specs.map(projectOf))];
  const jest = join(root, 'node_modules', 'jest', 'bin', 'jest.js');
  const args = [
    jest,
    '--ci',
    '--silent',
    '--bail',
    '--runTestsByPath',
    ...specs,
    '--selectProjects',
    ...projects,
  ];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout or an interrupt also ends the workers jest starts.
    const child = spawn(process.execPath, args, {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    const pid = child.pid;
    if (pid !== undefined) running.add(pid);
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-200_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (pid !== undefined) running.delete(pid);
      const failure = /^\s*● (?!Console)(.+›.+)$/m.exec(output);
      resolve({
        passed: code === 0 && !timedOut,
        timedOut,
        durationMs: Date.now() - started,
        ...(failure ? { firstFailure: failure[1].trim() } : {}),
        output: output.slice(-4_000),
      });
    });
  });
}
