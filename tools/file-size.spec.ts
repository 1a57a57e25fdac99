import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/**
 * Files a newcomer can read: no source file under apps/, libs/ or scripts/ (specs included) is over
 * MAX_LINES. A file that grows past it is split by responsibility, not trimmed.
 */
const MAX_LINES = 600;
const ROOTS = ['apps', 'libs', 'scripts'];
const SOURCE = /\.(ts|mts|cts|mjs)$/;
const SKIPPED_DIRECTORIES = new Set(['node_modules', 'dist', 'coverage']);

/** Lines as `wc -l` counts them, plus a last line without its newline. */
function lineCount(text: string): number {
  const newlines = text.split('\n').length - 1;
  return text.length > 0 && !text.endsWith('\n') ? newlines + 1 : newlines;
}

function* sourceFiles(directory: string): Generator<string> {
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRECTORIES.has(entry.name)) yield* sourceFiles(path);
    } else if (SOURCE.test(entry.name)) yield path;
  }
}

/** Every source file under `roots` (relative to `base`) longer than `max` lines, as `path (n lines)`. */
function filesOver(base: string, roots: readonly string[], max: number): string[] {
  const over: string[] = [];
  for (const root of roots)
    for (const file of sourceFiles(join(base, root))) {
      const lines = lineCount(readFileSync(file, 'utf8'));
      if (lines > max) over.push(`${relative(base, file)} (${lines} lines)`);
    }
  return over.sort();
}

describe('file size', () => {
  it(`no source file under ${ROOTS.join('/, ')}/ is over ${MAX_LINES} lines`, () => {
    expect(filesOver(join(__dirname, '..'), ROOTS, MAX_LINES)).toEqual([]);
  });

  describe('the check itself', () => {
    let base: string;
    beforeEach(() => {
      base = mkdtempSync(join(tmpdir(), 'file-size-'));
    });
    afterEach(() => {
      rmSync(base, { recursive: true, force: true });
    });

    const write = (path: string, lines: number, trailingNewline = true): void => {
      mkdirSync(join(base, path, '..'), { recursive: true });
      const text = Array.from({ length: lines }, (_, i) => `const line${i} = ${i};`).join('\n');
      writeFileSync(join(base, path), trailingNewline ? `${text}\n` : text);
    };

    it('names each file over the limit, specs and scripts included, and none at the limit', () => {
      write('apps/emr/src/at-limit.ts', 600);
      write('apps/emr/src/over.ts', 601);
      write('libs/fhir/src/store/over.spec.ts', 700);
      write('scripts/lib/over.mjs', 601, false);
      write('scripts/lib/at-limit.mjs', 600, false);
      write('apps/emr/node_modules/dep/huge.ts', 5_000);
      write('apps/emr/src/notes.md', 5_000);
      expect(filesOver(base, ROOTS, 600)).toEqual([
        'apps/emr/src/over.ts (601 lines)',
        'libs/fhir/src/store/over.spec.ts (700 lines)',
        'scripts/lib/over.mjs (601 lines)',
      ]);
    });

    it('counts lines as wc -l does', () => {
      expect(lineCount('')).toBe(0);
      expect(lineCount('a\n')).toBe(1);
      expect(lineCount('a\nb')).toBe(2);
      expect(lineCount('a\n\n')).toBe(2);
    });
  });
});
