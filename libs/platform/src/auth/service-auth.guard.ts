import {
  CanActivate,
  ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  Module,
  Optional,
  createParamDecorator,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { Logger } from 'pino';
import { AUDIT_SINK, type AuditRecord, type AuditSink } from '../audit/audit-record';
import { SERVICE_CONFIG, ServiceConfig } from '../config/service-config';
import { serviceCredentials, serviceTokenVerifier } from './service-identity';
import { ROOT_LOGGER } from '../http/platform.module';
import { ServiceAuthError, ServiceCaller, ServiceTokenVerifier } from './service-token';

export { serviceCredentials, serviceKeyring, serviceTokenVerifier } from './service-identity';

/** Provider token of the `ServiceTokenVerifier` the guard uses (the platform's JWT access control swaps it). */
export const SERVICE_TOKEN_VERIFIER = Symbol('SERVICE_TOKEN_VERIFIER');
/** Provider token of this service's `ServiceCredentials`, for clients of other services' internal routes. */
export const SERVICE_CREDENTIALS = Symbol('SERVICE_CREDENTIALS');

/** A request the guard let through: who sent it. */
export interface AuthenticatedRequest extends Request {
  serviceCaller?: ServiceCaller;
}

const BEARER = /^Bearer ([A-Za-z0-9_.-]{1,4096})$/;

/**
 * Lets a request through only with a valid service token for this service. Refuses with 401 (no token,
 * or one that proves nothing) or 403 (a valid token for another service), as JSON that says why; logs
 * each refusal with the method, route and reason, never the token. The caller is on
 * `request.serviceCaller` for the handler (see `@Caller()`). Each refusal also goes to the service's audit
 * sink when it has one (the audit trail), as the access guard's refusals do.
 */
@Injectable()
export class ServiceAuthGuard implements CanActivate {
  constructor(
    @Inject(SERVICE_TOKEN_VERIFIER) private readonly verifier: ServiceTokenVerifier,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
    @Optional() @Inject(SERVICE_CONFIG) private readonly config?: ServiceConfig,
    @Optional() @Inject(AUDIT_SINK) private readonly audit?: AuditSink,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<AuthenticatedRequest>();
    try {
      const header = request.headers.authorization;
      if (header === undefined) throw new ServiceAuthError(401, 'missing bearer token');
      const token = BEARER.exec(header)?.[1];
      if (token === undefined) throw new ServiceAuthError(401, 'authorization must be a bearer token');
      request.serviceCaller = await this.verifier.verify(token);
      return true;
    } catch (error) {
      const refusal =
        error instanceof ServiceAuthError ? error : new ServiceAuthError(401, 'token could not be verified');
      const route = (request.route as { path?: string } | undefined)?.path ?? 'unmatched';
      // The route template and the reason only: the token is a credential, the URL may carry ids.
      this.logger.warn(
        { method: request.method, route, status: refusal.status, reason: refusal.reason },
        'internal request refused',
      );
      if (refusal.status === 401)
        http.getResponse<Response>().setHeader('WWW-Authenticate', 'Bearer realm="hospital-internal"');
      await this.record(refusal, route, request);
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

  /** The refusal's audit record: the route template and the reason, no caller (no token proved one). */
  private async record(refusal: ServiceAuthError, route: string, request: Request): Promise<void> {
    if (!this.audit || !this.config) return;
    const record: AuditRecord = {
      id: randomUUID(),
      recorded: new Date().toISOString(),
      service: this.config.service.name,
      action: 'E',
      interaction: route,
      outcome: '4',
      status: refusal.status,
      reason: refusal.reason,
      sourceAddress: request.ip ?? request.socket?.remoteAddress,
    };
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

/** The verified caller of a request behind `ServiceAuthGuard`. */
export const Caller = createParamDecorator((_: unknown, context: ExecutionContext): ServiceCaller => {
  const caller = context.switchToHttp().getRequest<AuthenticatedRequest>().serviceCaller;
  // Only reachable when a route forgot its guard: fail closed.
  if (!caller) throw new HttpException({ statusCode: 401, message: 'not authenticated' }, 401);
  return caller;
});

/** A 403 for a caller the route does not serve, with the reason in the body. */
export function forbiddenCaller(reason: string): HttpException {
  return new HttpException({ statusCode: 403, error: 'Forbidden', message: reason }, 403);
}

/**
 * Service-to-service authentication for a module with internal routes or clients of other services'
 * ones: the verifier the guard uses, this service's credentials, and the guard. Needs `SERVICE_CONFIG`
 * and `ROOT_LOGGER` (from `PlatformModule.forRoot`).
 */
@Module({
  providers: [
    {
      provide: SERVICE_TOKEN_VERIFIER,
      inject: [SERVICE_CONFIG],
      useFactory: serviceTokenVerifier,
    },
    {
      provide: SERVICE_CREDENTIALS,
      inject: [SERVICE_CONFIG],
      useFactory: serviceCredentials,
    },
    ServiceAuthGuard,
  ],
  exports: [SERVICE_TOKEN_VERIFIER, SERVICE_CREDENTIALS, ServiceAuthGuard],
})
export class ServiceAuthModule {}
