import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { checkDependencyRules, readSourceTree, SourceTree } from './dependency-rules';

describe('dependency rules', () => {
  it('hold in this repository: no library imports or names an app, no cycle, ports import no protocol', () => {
    const tree = readSourceTree(resolve(__dirname, '..', '..'));
    expect(tree.appNames).toEqual(
      expect.arrayContaining(['emr', 'lis', 'pacs', 'pharmacy', 'pharmacy-messages']),
    );
    expect(tree.files.size).toBeGreaterThan(100);
    expect(checkDependencyRules(tree)).toEqual([]);
  });

  it('report a library importing an app, naming one, a cycle and a port importing its protocol', () => {
    const tree: SourceTree = {
      appNames: ['ward', 'ward-stock'],
      files: new Map([
        ['apps/ward/src/main.ts', "import { peer } from '@hospital/kit';\nexport const port = peer.length;"],
        ['apps/ward/src/config.ts', 'export const port = 3001;'],
        ['libs/kit/src/index.ts', "export * from './client';"],
        [
          'libs/kit/src/client.ts',
          [
            "import { port } from '../../../apps/ward/src/config';",
            '// The ward app calls this client; comments may name apps.',
            'export const peer = `http://ward:${port}`;',
            "export const WARD_STOCK_URL = 'http://127.0.0.1:3041';",
            "export const producers = 'ward-stock=http://x';",
            "export const award = 'award-ceremony';",
          ].join('\n'),
        ],
        ['libs/kit/src/a.ts', "import { b } from './b';\nexport const a = b + 1;"],
        ['libs/kit/src/b.ts', "import type { A } from './c';\nexport const b = 1;"],
        ['libs/kit/src/c.ts', "import { a } from './a';\nexport type A = typeof a;"],
        [
          'libs/kit/src/ports/thing.ports.ts',
          "import { Decision } from '../protocol/types';\nimport { Clock } from '../core/clock';",
        ],
        ['libs/kit/src/ports/other.ports.ts', "import { Thing } from './thing.ports';"],
        ['libs/kit/src/core/clock.ts', 'export type Clock = () => number;'],
        ['libs/kit/src/protocol/types.ts', 'export type Decision = 1;'],
        ['libs/kit/src/testing/world.ts', "export const coordinator = 'ward';"],
        ['libs/kit/src/client.spec.ts', "const caller = 'ward';"],
        ['libs/kit/test/client.int-spec.ts', "import { port } from '../../../apps/ward/src/config';"],
      ]),
    };
    expect(checkDependencyRules(tree)).toEqual([
      { rule: 'lib-imports-app', file: 'libs/kit/src/client.ts', detail: 'imports apps/ward/src/config.ts' },
      { rule: 'lib-names-app', file: 'libs/kit/src/client.ts', detail: 'ward' },
      { rule: 'lib-names-app', file: 'libs/kit/src/client.ts', detail: 'ward-stock' },
      {
        rule: 'port-imports-protocol',
        file: 'libs/kit/src/ports/thing.ports.ts',
        detail: 'imports libs/kit/src/protocol/types.ts',
      },
      {
        rule: 'lib-imports-app',
        file: 'libs/kit/test/client.int-spec.ts',
        detail: 'imports apps/ward/src/config.ts',
      },
      {
        rule: 'cycle',
        file: 'libs/kit/src/a.ts',
        detail: 'libs/kit/src/a.ts → libs/kit/src/b.ts → libs/kit/src/c.ts',
      },
    ]);
  });

  describe('on a repository on disk', () => {
    let root: string;
    const write = (path: string, text: string): void => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    beforeEach(() => {
      root = mkdtempSync(join(tmpdir(), 'dependency-rules-'));
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it('takes the app names from apps/ and scripts/services.ts, and finds a cycle between two scripts', () => {
      write('apps/ward/src/main.ts', 'export {};');
      write('scripts/services.ts', "export const services = [{ name: 'ward-stock', port: 3041 }];");
      write('scripts/lib/load.ts', "import { Report } from './report';\nexport type Load = Report;");
      write(
        'scripts/lib/report.ts',
        "import type { Load } from './load';\nexport type Report = { load?: Load };",
      );
      write('libs/kit/src/stock.ts', "export const stock = 'ward-stock';");
      const tree = readSourceTree(root);
      expect(tree.appNames).toEqual(['ward', 'ward-stock']);
      expect(checkDependencyRules(tree)).toEqual([
        { rule: 'lib-names-app', file: 'libs/kit/src/stock.ts', detail: 'ward' },
        { rule: 'lib-names-app', file: 'libs/kit/src/stock.ts', detail: 'ward-stock' },
        { rule: 'cycle', file: 'scripts/lib/load.ts', detail: 'scripts/lib/load.ts → scripts/lib/report.ts' },
      ]);
    });
  });
});
