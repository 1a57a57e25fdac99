// ESLint rule: apps import libs, libs never import apps, apps never import each other.
// Apps reach each other only over HTTP and RabbitMQ contracts, and those contracts live in a lib.
// This is the editor's early warning; tools/architecture/dependency-rules.ts checks the same import rule
// (and libraries naming apps, cycles, ports importing protocols) in `npm test`.
import { dirname, relative, resolve, sep } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');

/** Returns ['apps', 'emr'] for a file under apps/emr, ['libs', 'fhir'] for one under libs/fhir. */
function zoneOf(path) {
  const [top, name] = relative(root, path).split(sep);
  return top === 'apps' || top === 'libs' ? [top, name] : undefined;
}

export const boundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'Keeps apps from importing each other and libs from importing apps.' },
    messages: {
      appToApp: "'{{from}}' may not import from app '{{to}}': talk to it over its HTTP or message contract.",
      libToApp: "Library '{{from}}' may not import from app '{{to}}'.",
    },
    schema: [],
  },
  create(context) {
    const here = zoneOf(context.filename);
    if (!here) return {};
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const there = zoneOf(resolve(dirname(context.filename), source));
      if (!there || there[0] !== 'apps' || (here[0] === 'apps' && there[1] === here[1])) return;
      const messageId = here[0] === 'apps' ? 'appToApp' : 'libToApp';
      context.report({ node, messageId, data: { from: here[1], to: there[1] } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => check(node, node.source.value),
    };
  },
};
