import { randomUUID } from 'node:crypto';
import { CanActivate, ExecutionContext, HttpException, Inject, Injectable, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import { decodeProtectedHeader } from 'jose';
import type { Logger } from 'pino';
import { AUDIT_SINK, type AuditRecord, type AuditSink } from '../audit/audit-record';
import { SERVICE_CONFIG, type ServiceConfig } from '../config/service-config';
import { ROOT_LOGGER } from '../http/root-logger';
import { ACCESS_ROLES, ACCESS_RULE, ACCESS_SCOPES, type AccessRule } from './access.decorators';
import { ACCESS_TOKEN_ALGORITHM, type AccessTokenVerifier } from './access-token';
import { requiredFhirScopes, type ScopeNeed } from './fhir-scopes';
import type { Principal, RequestWithPrincipal, Role } from './principal';
import { CLINICAL_ROLES } from './roles';
import { grants, parseScope, PERMISSIONS, type Permission } from './scopes';
import { ServiceAuthError, type ServiceTokenVerifier } from './service-token';

/** Provider token of the `AccessTokenVerifier` of user tokens. */
export const ACCESS_TOKEN_VERIFIER = Symbol('ACCESS_TOKEN_VERIFIER');
/** Provider token of the verifier of service tokens the access guard admits as the platform's services. */
export const ACCESS_SERVICE_VERIFIER = Symbol('ACCESS_SERVICE_VERIFIER');

/** The header a clinician sends to read what their scopes do not cover, with the reason. */
export const BREAK_THE_GLASS_HEADER = 'x-break-the-glass';
export const BREAK_THE_GLASS_MAX_REASON = 200;

const BEARER = /^Bearer ([A-Za-z0-9_.-]{1,8192})$/;
const READ_ONLY: ReadonlySet<Permission> = new Set(['r', 's']);
const ACTIONS: Readonly<Record<Permission, AuditRecord['action']>> = {
  c: 'C',
  r: 'R',
  u: 'U',
  d: 'D',
  s: 'R',
};
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{0,63}$/;

/** A refusal on its way out: status, reason, and what the audit record says of it. */
class Refusal extends ServiceAuthError {
  constructor(
    status: 401 | 403,
    reason: string,
    readonly principal?: Principal,
  ) {
    super(status, reason);
  }
}

interface Route {
  method: string;
  template: string;
  handler: string;
}

/** What a route needs, from its access metadata. */
interface Requirement {
  rule?: AccessRule;
  scopes?: string[];
  roles?: Role[];
}

/**
 * The platform's access control, a global guard on every route of every service (`PlatformModule`):
 * reads the route's access metadata (`@Public`, `@ServiceRoute`, `@FhirAccess`, `@RequireScopes`,
 * `@Roles`) and refuses a route that has none (fail closed, 403). Otherwise it needs a bearer token:
 * a user's RS256 token (its scopes, within its role's, must cover the request; break-the-glass lets a
 * clinical role read what they do not) or a service token of the platform (a service's own identity,
 * admitted everywhere a user may be). The principal goes on `request.principal`; each refusal is logged
 * (method, route template, status, reason — never the token or the URL) and sent to the audit sink when
 * the service has one. 401 answers carry `WWW-Authenticate: Bearer`; the service's exception filter
 * turns the refusal into an OperationOutcome on `/fhir` and problem JSON on `/api`.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(ACCESS_TOKEN_VERIFIER) private readonly users: AccessTokenVerifier,
    @Inject(ACCESS_SERVICE_VERIFIER) private readonly services: ServiceTokenVerifier,
    @Inject(SERVICE_CONFIG) private readonly config: ServiceConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
    @Optional() @Inject(AUDIT_SINK) private readonly audit?: AuditSink,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    // Message handlers (MQTT, RabbitMQ) have their own checks; this guards HTTP.
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    const requirement: Requirement = {
      rule: this.reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_RULE, targets),
      scopes: this.reflector.getAllAndOverride<string[] | undefined>(ACCESS_SCOPES, targets),
      roles: this.reflector.getAllAndOverride<Role[] | undefined>(ACCESS_ROLES, targets),
    };
    if (requirement.rule?.kind === 'public' || requirement.rule?.kind === 'service') return true;
    const http = context.switchToHttp();
    const request = http.getRequest<RequestWithPrincipal>();
    const route: Route = {
      method: request.method,
      template: (request.route as { path?: string } | undefined)?.path ?? 'unmatched',
      handler: `${context.getClass().name}.${context.getHandler().name}`,
    };
    const needs =
      requirement.rule?.kind === 'fhir'
        ? requiredFhirScopes(request.method, request.path, request.body, requirement.rule.permission)
        : (requirement.scopes ?? []).flatMap(needOfScope);
    try {
      if (
        requirement.rule === undefined &&
        requirement.scopes === undefined &&
        requirement.roles === undefined
      )
        throw new Refusal(403, 'route has no access rule');
      const principal = await this.authenticate(request.headers.authorization);
      request.principal = principal;
      if (principal.kind === 'user') this.authorize(principal, requirement, needs, request);
      return true;
    } catch (error) {
      const refusal =
        error instanceof Refusal
          ? error
          : error instanceof ServiceAuthError
            ? new Refusal(error.status, error.reason)
            : new Refusal(401, 'token could not be verified');
      await this.refuse(refusal, route, needs, request, http.getResponse<Response>());
      throw new HttpException(
        {
          statusCode: refusal.status,
          error: refusal.status === 401 ? 'Unauthorized' : 'Forbidden',
          message: refusal.reason,
        },
        refusal.status,
      );
    }
  }

  /** The principal a bearer token proves: a user (RS256) or one of the platform's services (EdDSA). */
  private async authenticate(header: string | undefined): Promise<Principal> {
    if (header === undefined) throw new Refusal(401, 'missing bearer token');
    const token = BEARER.exec(header)?.[1];
    if (token === undefined) throw new Refusal(401, 'authorization must be a bearer token');
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new Refusal(401, 'malformed token');
    }
    if (alg === 'EdDSA') {
      const caller = await this.services.verify(token);
      return { kind: 'service', id: caller.name, scopes: ['system/*.cruds'] };
    }
    if (alg !== ACCESS_TOKEN_ALGORITHM)
      throw new Refusal(401, `token algorithm must be ${ACCESS_TOKEN_ALGORITHM}`);
    return this.users.verify(token);
  }

  /** Throws a 403 Refusal unless the user's role and scopes (or break-the-glass) cover the request. */
  private authorize(
    principal: Principal,
    requirement: Requirement,
    needs: readonly ScopeNeed[],
    request: RequestWithPrincipal,
  ): void {
    if (requirement.roles !== undefined && !requirement.roles.includes(principal.role as Role))
      throw new Refusal(403, `route is for ${requirement.roles.join(', ')}`, principal);
    const missing = needs.filter((n) => !grants(principal.scopes, n.resourceType, n.permission));
    if (missing.length === 0) return;
    const glass = request.headers[BREAK_THE_GLASS_HEADER];
    if (glass !== undefined) {
      const reason = (Array.isArray(glass) ? glass.join(' ') : glass).trim();
      if (reason === '' || reason.length > BREAK_THE_GLASS_MAX_REASON)
        throw new Refusal(
          403,
          `break-the-glass needs a reason of 1 to ${BREAK_THE_GLASS_MAX_REASON} characters`,
          principal,
        );
      if (!CLINICAL_ROLES.includes(principal.role as Role))
        throw new Refusal(403, 'break-the-glass is for clinical roles', principal);
      if (missing.every((n) => READ_ONLY.has(n.permission))) {
        principal.breakTheGlass = { reason };
        return;
      }
      throw new Refusal(403, 'break-the-glass allows reading only', principal);
    }
    const first = missing[0];
    const type =
      RESOURCE_TYPE.test(first.resourceType) || first.resourceType === '*' ? first.resourceType : 'this type';
    throw new Refusal(403, `token scopes do not cover ${type}.${first.permission}`, principal);
  }

  private async refuse(
    refusal: Refusal,
    route: Route,
    needs: readonly ScopeNeed[],
    request: RequestWithPrincipal,
    response: Response,
  ): Promise<void> {
    // The route template and the reason only: the token is a credential, the URL may name a patient.
    this.logger.warn(
      {
        method: route.method,
        route: route.template,
        handler: route.handler,
        status: refusal.status,
        reason: refusal.reason,
      },
      'request refused',
    );
    response.setHeader(
      'WWW-Authenticate',
      refusal.status === 401
        ? 'Bearer realm="hospital"'
        : 'Bearer realm="hospital", error="insufficient_scope"',
    );
    if (!this.audit) return;
    const need = needs[0];
    const principal = refusal.principal;
    const record: AuditRecord = {
      id: randomUUID(),
      recorded: new Date().toISOString(),
      service: this.config.service.name,
      action: need === undefined ? 'E' : ACTIONS[need.permission],
      interaction: route.template,
      outcome: '4',
      status: refusal.status,
      reason: refusal.reason,
      sourceAddress: request.ip ?? request.socket?.remoteAddress,
    };
    if (principal !== undefined)
      record.actor = { kind: principal.kind, id: principal.id, name: principal.name, role: principal.role };
    if (need !== undefined && RESOURCE_TYPE.test(need.resourceType)) record.resourceType = need.resourceType;
    try {
      await this.audit.record([record]);
    } catch (error) {
      this.logger.error(
        { reason: error instanceof Error ? error.message : String(error) },
        'audit of a refusal failed',
      );
    }
  }
}

/** The need a `@RequireScopes` scope names (`user/Patient.rs` needs `r` and `s` of Patient). */
function needOfScope(text: string): ScopeNeed[] {
  const scope = parseScope(text);
  if (!scope) return []; // @RequireScopes refuses such a scope when the route is declared
  return PERMISSIONS.filter((p) => scope.permissions.has(p)).map((permission) => ({
    resourceType: scope.resourceType,
    permission,
  }));
}
