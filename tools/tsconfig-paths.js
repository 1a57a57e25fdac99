// The `@hospital/*` path aliases are declared once, in tsconfig.json's `compilerOptions.paths`; Jest
// (jest.config.js) and the build (scripts/build.mjs) read them from there through this file.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');

/** tsconfig.json is JSON with comments and trailing commas: drop both (outside strings), then parse. */
function parseJsonWithComments(text) {
  let out = '';
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (c === '"') {
      const end = /"(?:[^"\\]|\\.)*"/y;
      end.lastIndex = i;
      const match = end.exec(text);
      if (!match) throw new Error('tsconfig.json: unterminated string');
      out += match[0];
      i += match[0].length - 1;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i += 1;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      if (close < 0) throw new Error('tsconfig.json: unterminated comment');
      i = close + 1;
    } else out += c;
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, '$1'));
}

/** `compilerOptions.paths` of the repository's tsconfig.json, targets relative to the root without `./`. */
function tsconfigPaths() {
  const config = parseJsonWithComments(readFileSync(join(root, 'tsconfig.json'), 'utf8'));
  const paths = (config.compilerOptions && config.compilerOptions.paths) || {};
  return Object.fromEntries(
    Object.entries(paths).map(([alias, targets]) => [alias, targets.map((t) => t.replace(/^\.\//, ''))]),
  );
}

/** The same aliases as Jest `moduleNameMapper` entries (`<rootDir>` is the repository's root). */
function jestModuleNameMapper() {
  const escape = (s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  return Object.fromEntries(
    Object.entries(tsconfigPaths()).map(([alias, [target]]) =>
      alias.endsWith('/*')
        ? [`^${escape(alias.slice(0, -2))}/(.*)$`, `<rootDir>/${target.replace(/\*$/, '$1')}`]
        : [`^${escape(alias)}$`, `<rootDir>/${target}`],
    ),
  );
}

module.exports = { parseJsonWithComments, tsconfigPaths, jestModuleNameMapper };
