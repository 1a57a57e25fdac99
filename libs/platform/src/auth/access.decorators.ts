import { SetMetadata } from '@nestjs/common';
import type { Role } from './principal';
import { parseScope, type Permission } from './scopes';

/** Metadata key of a route's access rule (read by `AccessGuard` and the route check). */
export const ACCESS_RULE = 'hospital:access-rule';
/** Metadata key of the scopes a route needs (`@RequireScopes`). */
export const ACCESS_SCOPES = 'hospital:access-scopes';
/** Metadata key of the roles a route admits (`@Roles`). */
export const ACCESS_ROLES = 'hospital:access-roles';

/**
 * How a route is protected:
 * - `public`: no token (health, metrics, `/fhir/metadata`, SMART discovery, `/api/docs`);
 * - `service`: an `/internal/*` route, where `ServiceAuthGuard` decides;
 * - `fhir`: the scope follows from the FHIR interaction (`requiredFhirScopes`), or `permission` of the
 *   path's resource type when the route declares one (an operation);
 * Other routes say what they need with `@RequireScopes` and `@Roles` instead; a route with none of these
 * is refused (fail closed).
 */
export type AccessRule = { kind: 'public' } | { kind: 'service' } | { kind: 'fhir'; permission?: Permission };

/** No token needed. */
export const Public = () => SetMetadata(ACCESS_RULE, { kind: 'public' } satisfies AccessRule);

/** A service-to-service route: `ServiceAuthGuard` (on the controller) decides, not the user access guard. */
export const ServiceRoute = () => SetMetadata(ACCESS_RULE, { kind: 'service' } satisfies AccessRule);

/**
 * FHIR REST routes: the guard derives the scope from the method and path (`requiredFhirScopes`). An
 * operation may declare the permission it needs on its resource type (`c` by default).
 */
export const FhirAccess = (options: { permission?: Permission } = {}) =>
  SetMetadata(ACCESS_RULE, { kind: 'fhir', ...options } satisfies AccessRule);

/**
 * A route that needs a user token granting every scope listed (`user/Patient.rs`: read and search of
 * Patient). Services pass too (their own identity).
 */
export const RequireScopes = (...scopes: string[]) => {
  for (const scope of scopes)
    if (parseScope(scope) === undefined) throw new Error(`@RequireScopes: ${scope} is not a SMART scope`);
  return SetMetadata(ACCESS_SCOPES, scopes);
};

/** A route for users of these roles only (administrator for the admin and transaction APIs). */
export const Roles = (...roles: Role[]) => SetMetadata(ACCESS_ROLES, roles);
