// The repository's dependency rules, checked over the TypeScript sources by a unit spec (so `npm test`
// enforces them):
//  - a library never imports from an app (apps reach each other and the libraries only through contracts
//    that live in a library);
//  - a library's code never names an app: no string or identifier whose words spell an app's name
//    (`'lis'`, `PACS_URL`, `'pharmacy-messages=…'`). Comments and docs may name apps, and so may specs,
//    `test/` folders and `src/testing/` (they play out hospital scenarios with the platform's services);
//  - no module cycle anywhere under apps/, libs/ or scripts/ (type-only imports count: they tie the files
//    together just as much for a reader);
//  - a library's `ports/` imports only `ports/` and `core/` of that library: protocols depend on ports,
//    never the other way round.
// App names are the folders under apps/ and the services scripts/services.ts registers.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';

export interface SourceTree {
  /** Every `.ts` file under apps/, libs/ and scripts/, by repository-relative path (with `/`). */
  readonly files: ReadonlyMap<string, string>;
  /** The apps' names, which library code may not spell. */
  readonly appNames: readonly string[];
}

export type Rule = 'lib-imports-app' | 'lib-names-app' | 'cycle' | 'port-imports-protocol';

export interface Violation {
  rule: Rule;
  file: string;
  detail: string;
}

const SOURCE_ROOTS = ['apps', 'libs', 'scripts'];

/** Reads the sources and the app names of the repository at `root`. */
export function readSourceTree(root: string): SourceTree {
  const files = new Map<string, string>();
  const walk = (relative: string): void => {
    for (const entry of readdirSync(join(root, relative), { withFileTypes: true })) {
      const path = posix.join(relative, entry.name);
      if (entry.isDirectory() && entry.name !== 'node_modules' && entry.name !== 'dist') walk(path);
      else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
        files.set(path, readFileSync(join(root, path), 'utf8'));
    }
  };
  for (const top of SOURCE_ROOTS) if (existsSync(join(root, top))) walk(top);
  return { files, appNames: appNames(root, files) };
}

/**
 * App names that are also the word for a platform-wide concept the libraries own: every service reports
 * audit records (`libs/platform/src/audit`, the trail's message contract), and the app that stores them is
 * `audit`. Libraries may spell the concept; importing the app is still refused (`lib-imports-app`).
 */
const CONCEPT_NAMES = new Set(['audit']);

/** The folders under apps/, and every `name: '…'` scripts/services.ts registers (but the concept names). */
function appNames(root: string, files: ReadonlyMap<string, string>): string[] {
  const names = new Set<string>();
  if (existsSync(join(root, 'apps')))
    for (const entry of readdirSync(join(root, 'apps'), { withFileTypes: true }))
      if (entry.isDirectory()) names.add(entry.name);
  for (const match of (files.get('scripts/services.ts') ?? '').matchAll(/\bname:\s*'([a-z][a-z0-9-]*)'/g))
    names.add(match[1]);
  return [...names].filter((name) => !CONCEPT_NAMES.has(name)).sort();
}

/** Every rule broken in `tree`, in a stable order. */
export function checkDependencyRules(tree: SourceTree): Violation[] {
  const graph = importGraph(tree.files);
  const violations: Violation[] = [];
  for (const [file, targets] of graph) {
    const lib = /^libs\/([^/]+)\//.exec(file)?.[1];
    if (lib === undefined) continue;
    for (const target of targets) {
      if (target.startsWith('apps/'))
        violations.push({ rule: 'lib-imports-app', file, detail: `imports ${target}` });
      const port = file.startsWith(`libs/${lib}/src/ports/`);
      const allowed = [`libs/${lib}/src/ports/`, `libs/${lib}/src/core/`];
      if (port && target.startsWith(`libs/${lib}/`) && !allowed.some((a) => target.startsWith(a)))
        violations.push({ rule: 'port-imports-protocol', file, detail: `imports ${target}` });
    }
    if (!isTestCode(file))
      for (const name of appNamesSpelled(file, tree.files.get(file) ?? '', tree.appNames))
        violations.push({ rule: 'lib-names-app', file, detail: name });
  }
  for (const cycle of cycles(graph))
    violations.push({ rule: 'cycle', file: cycle[0], detail: cycle.join(' → ') });
  return violations;
}

function isTestCode(file: string): boolean {
  return /\.(spec|int-spec|fault-spec)\.ts$/.test(file) || /^libs\/[^/]+\/(test|src\/testing)\//.test(file);
}

/** Each file's imports that land in the tree (or point into it): relative paths and `@hospital/<lib>`. */
function importGraph(files: ReadonlyMap<string, string>): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const [file, text] of files) {
    const targets = new Set<string>();
    for (const { fileName } of ts.preProcessFile(text, true, true).importedFiles) {
      const target = resolve(file, fileName, files);
      if (target !== undefined) targets.add(target);
    }
    graph.set(file, [...targets].sort());
  }
  return graph;
}

function resolve(from: string, specifier: string, files: ReadonlyMap<string, string>): string | undefined {
  let base: string;
  const alias = /^@hospital\/([^/]+)(?:\/(.*))?$/.exec(specifier);
  if (alias) base = posix.join('libs', alias[1], 'src', alias[2] ?? '');
  else if (specifier.startsWith('.')) base = posix.join(posix.dirname(from), specifier);
  else return undefined;
  base = base.replace(/\.js$/, '');
  const found = [`${base}.ts`, `${base}/index.ts`, base].find((candidate) => files.has(candidate));
  // A path into apps/ is reported even when the file is missing from the tree.
  return found ?? (base.startsWith('apps/') ? base : undefined);
}

/** The app names spelled by the strings and identifiers of `text` (comments are not looked at). */
function appNamesSpelled(file: string, text: string, names: readonly string[]): string[] {
  const found = new Set<string>();
  const look = (words: string): void => {
    const normal = `-${words.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-`;
    for (const name of names) if (normal.includes(`-${name}-`)) found.add(name);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node) || ts.isIdentifier(node))
      look(node.text);
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS));
  return [...found].sort();
}

/** The import cycles of `graph`: each strongly connected set of files, sorted, smallest first file first. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  // Tarjan's algorithm (recursive: import chains are far shallower than the stack).
  let index = 0;
  const indexes = new Map<string, number>();
  const lowlinks = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (file: string): void => {
    indexes.set(file, index);
    lowlinks.set(file, index);
    index += 1;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!graph.has(target)) continue;
      if (!indexes.has(target)) {
        connect(target);
        lowlinks.set(file, Math.min(lowlinks.get(file) as number, lowlinks.get(target) as number));
      } else if (onStack.has(target)) {
        lowlinks.set(file, Math.min(lowlinks.get(file) as number, indexes.get(target) as number));
      }
    }
    if (lowlinks.get(file) === indexes.get(file)) {
      // The files above `file` on the stack, and `file` itself, form one strongly connected set.
      const members = stack.splice(stack.lastIndexOf(file));
      for (const member of members) onStack.delete(member);
      const selfImport = (graph.get(file) ?? []).includes(file);
      if (members.length > 1 || selfImport) found.push(members.sort());
    }
  };
  for (const file of [...graph.keys()].sort()) if (!indexes.has(file)) connect(file);
  return found.sort((a, b) => a.join().localeCompare(b.join()));
}
