/**
 * SMART on FHIR scopes (App Launch 2.0, with the 1.0 spellings accepted): `user/Patient.rs`,
 * `user/*.cruds`, `system/Observation.read`. Parsed into the resource type they cover and the
 * interactions they grant; patient-context (`patient/…`) scopes need a launch context this platform does
 * not issue, so they grant nothing here.
 */

/** SMART v2 permissions, in their canonical order: create, read, update, delete, search. */
export const PERMISSIONS = ['c', 'r', 'u', 'd', 's'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface Scope {
  context: 'user' | 'system';
  /** A FHIR resource type, or `*` for every type. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
}

const SCOPE = /^(user|system)\/(\*|[A-Z][A-Za-z]{0,63})\.([a-z*]+)$/;
const V1: Readonly<Record<string, string>> = { read: 'rs', write: 'cud', '*': 'cruds' };

/** One scope string as a Scope, or undefined when it is not a resource scope this platform grants. */
export function parseScope(text: string): Scope | undefined {
  const match = SCOPE.exec(text.split('?')[0] ?? '');
  if (match === null) return undefined;
  const [, context, resourceType, given] = match as unknown as [string, 'user' | 'system', string, string];
  const letters = V1[given] ?? given;
  // v2 permissions appear once each, in the order c r u d s.
  let at = 0;
  const permissions = new Set<Permission>();
  for (const letter of letters) {
    const index = PERMISSIONS.indexOf(letter as Permission, at);
    if (index < 0) return undefined;
    permissions.add(PERMISSIONS[index]);
    at = index + 1;
  }
  return permissions.size === 0 ? undefined : { context, resourceType, permissions };
}

/** A space-separated scope claim as Scopes; anything not a resource scope is dropped. */
export function parseScopes(claim: string | readonly string[]): Scope[] {
  const items = typeof claim === 'string' ? claim.split(/\s+/) : claim;
  return items.map(parseScope).filter((s): s is Scope => s !== undefined);
}

/** The canonical v2 spelling of a scope (`user/Patient.rs`). */
export function formatScope(scope: Scope): string {
  const letters = PERMISSIONS.filter((p) => scope.permissions.has(p)).join('');
  return `${scope.context}/${scope.resourceType}.${letters}`;
}

/** What both scopes grant, when anything. */
function intersectOne(a: Scope, b: Scope): Scope | undefined {
  if (a.context !== b.context) return undefined;
  let resourceType: string;
  if (a.resourceType === '*') resourceType = b.resourceType;
  else if (b.resourceType === '*' || b.resourceType === a.resourceType) resourceType = a.resourceType;
  else return undefined;
  const permissions = new Set(PERMISSIONS.filter((p) => a.permissions.has(p) && b.permissions.has(p)));
  return permissions.size === 0 ? undefined : { context: a.context, resourceType, permissions };
}

/**
 * The scopes `requested` grant within what `allowed` permits: a token's scopes narrowed to its role's.
 * Canonical, deduplicated strings.
 */
export function intersectScopes(requested: readonly Scope[], allowed: readonly Scope[]): string[] {
  const out = new Set<string>();
  for (const a of requested)
    for (const b of allowed) {
      const both = intersectOne(a, b);
      if (both) out.add(formatScope(both));
    }
  return [...out];
}

/** Whether `scopes` grant `permission` on `resourceType` (`*` asks for a grant on every type). */
export function grants(scopes: readonly string[], resourceType: string, permission: Permission): boolean {
  return parseScopes(scopes).some(
    (s) => (s.resourceType === '*' || s.resourceType === resourceType) && s.permissions.has(permission),
  );
}
