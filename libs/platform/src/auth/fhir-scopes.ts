import type { Permission } from './scopes';

/** One scope a FHIR request needs: a permission on a resource type (`*`: every type). */
export interface ScopeNeed {
  resourceType: string;
  permission: Permission;
}

const permissionOfMethod = (method: string, onInstance: boolean): Permission => {
  switch (method.toUpperCase()) {
    case 'GET':
    case 'HEAD':
      return onInstance ? 'r' : 's';
    case 'PUT':
    case 'PATCH':
      return 'u';
    case 'DELETE':
      return 'd';
    default:
      return 'c';
  }
};

/** The segments of a FHIR path after `fhir` (the whole path when it has no such segment). */
function fhirSegments(path: string): string[] {
  const segments = (path.split(/[?#]/)[0] ?? '').split('/').filter((s) => s !== '');
  const at = segments.indexOf('fhir');
  return at < 0 ? segments : segments.slice(at + 1);
}

function needsOfEntry(entry: unknown): ScopeNeed[] {
  if (typeof entry !== 'object' || entry === null) return [];
  const { request, resource } = entry as {
    request?: { method?: unknown; url?: unknown };
    resource?: unknown;
  };
  const method = typeof request?.method === 'string' ? request.method : 'POST';
  const url = typeof request?.url === 'string' ? request.url : undefined;
  const type = (resource as { resourceType?: unknown } | undefined)?.resourceType;
  // The resource's own type too: an entry whose url names another type must not borrow that type's scope.
  const own: ScopeNeed[] =
    typeof type === 'string' ? [{ resourceType: type, permission: permissionOfMethod(method, true) }] : [];
  if (url === undefined || url.startsWith('/')) return own;
  const byUrl = requiredFhirScopes(method, `/fhir/${url}`);
  return [...byUrl, ...own.filter((o) => !byUrl.some((b) => b.resourceType === o.resourceType))];
}

/**
 * The scopes a FHIR REST request needs, from its method and path (and, for a Bundle posted to the base,
 * its entries): read and vread and history need `r`, a search `s` (by GET or `POST [type]/_search`), a
 * create `c`, an update `u`, a delete `d`; an operation (`$x`) `operation` of its type (`c` unless the
 * route declares otherwise). A Bundle needs what each of its entries needs, or `Bundle.c` when it has
 * none it can read. The gateway reuses this to check a request before it routes it.
 */
export function requiredFhirScopes(
  method: string,
  path: string,
  body?: unknown,
  operation: Permission = 'c',
): ScopeNeed[] {
  const [type, second, third] = fhirSegments(path);
  const upper = method.toUpperCase();
  if (type === undefined || type === '_history' || type === '_search') {
    if (upper === 'POST' && type === undefined) {
      const entries = (body as { entry?: unknown } | undefined)?.entry;
      const needs = Array.isArray(entries) ? entries.flatMap(needsOfEntry) : [];
      return needs.length > 0 ? needs : [{ resourceType: 'Bundle', permission: 'c' }];
    }
    return [{ resourceType: '*', permission: upper === 'GET' ? 's' : permissionOfMethod(upper, false) }];
  }
  if (type === 'metadata') return [];
  if (type.startsWith('$')) return [{ resourceType: '*', permission: operation }];
  if (second === undefined) return [{ resourceType: type, permission: permissionOfMethod(upper, false) }];
  if (second === '_search') return [{ resourceType: type, permission: 's' }];
  if (second === '_history') return [{ resourceType: type, permission: 'r' }];
  if (second.startsWith('$') || third?.startsWith('$'))
    return [{ resourceType: type, permission: operation }];
  if (third === '_history') return [{ resourceType: type, permission: 'r' }];
  return [{ resourceType: type, permission: permissionOfMethod(upper, true) }];
}
