import { randomUUID } from 'node:crypto';
import {
  CallHandler,
  ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  NestInterceptor,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  AUDIT_SINK,
  buildAuditRecords,
  fhirInteractionOf,
  patientIdsIn,
  isDomainException,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  ServiceConfig,
  type AuditedInteraction,
  type AuditSink,
  type RequestWithPrincipal,
} from '@hospital/platform';
import type { Response } from 'express';
import { Logger } from 'pino';
import { from, lastValueFrom, Observable } from 'rxjs';

const AUDITED_ROUTE = Symbol('AUDITED_ROUTE');

/**
 * Marks a route outside `/fhir` that reads or changes patient data, so the audit trail records it (routes
 * under `/fhir` are recorded without it). `resourceType` and the id parameter name the data it touches.
 */
export interface AuditedRouteOptions {
  action: AuditedInteraction['action'];
  interaction: string;
  resourceType?: string;
  /** The route parameter holding the resource id (`id` when absent and the route has one). */
  idParam?: string;
  /** The plain field naming the patient in the body or the answer (`patientId`), items of lists too. */
  patientField?: string;
}

export const AuditedRoute = (route: AuditedRouteOptions): MethodDecorator =>
  SetMetadata(AUDITED_ROUTE, route);

interface ErrorAnswer {
  status: number;
  reason: string;
}

function answerOf(error: unknown): ErrorAnswer {
  if (isDomainException(error)) return { status: error.status, reason: `${error.module}:${error.code}` };
  if (error instanceof HttpException)
    return { status: error.getStatus(), reason: `http-${error.getStatus()}` };
  return { status: 500, reason: 'internal-error' };
}

/** The Express path template of the route that matched (`/fhir/:type/:id`), never the URL with its values. */
function routePathOf(req: RequestWithPrincipal): string | undefined {
  const route: unknown = req.route;
  const path = typeof route === 'object' && route !== null && 'path' in route ? route.path : undefined;
  return typeof path === 'string' ? path : undefined;
}

function header(value: string | number | readonly string[] | undefined): string | undefined {
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Records every access to patient data, allowed or refused, through the service's audit sink: each
 * interaction of the FHIR API (read, vread, history, search, create, update, delete, transaction,
 * operations) and each route marked `@AuditedRoute`. The records are written durably (the outbox) before
 * the answer leaves; if they cannot be written, a successful answer is withheld (500), so no data is served
 * unrecorded. Errors are recorded with their status (outcome 4 for 4xx, 8 for 5xx) and rethrown unchanged.
 * Requests rejected before any route runs (a malformed JSON body, an unknown path) are not recorded here.
 */
@Injectable()
export class AuditTrailInterceptor implements NestInterceptor {
  constructor(
    @Inject(AUDIT_SINK) private readonly sink: AuditSink,
    @Inject(SERVICE_CONFIG) private readonly config: ServiceConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const req = http.getRequest<RequestWithPrincipal>();
    const res = http.getResponse<Response>();
    const marked = this.reflector.get<AuditedRouteOptions | undefined>(AUDITED_ROUTE, context.getHandler());
    const interaction = this.interactionOf(marked, req);
    if (interaction === undefined) return next.handle();
    const field = marked?.patientField;
    const audit = (status: number, response: unknown, reason?: string): Promise<void> => {
      const records = buildAuditRecords(
        {
          ...interaction,
          service: this.config.service.name,
          request: req.body,
          response,
          status,
          principal: req.principal,
          gtid: header(res.getHeader('x-gtid')) ?? header(req.headers['x-gtid']),
          sourceAddress: req.ip ?? req.socket.remoteAddress,
          reason,
          ...(field === undefined
            ? {}
            : { patients: [...patientIdsIn(req.body, field), ...patientIdsIn(response, field)] }),
        },
        new Date(),
        randomUUID,
      );
      return this.sink.record(records);
    };
    return from(
      (async () => {
        let body: unknown;
        try {
          body = await lastValueFrom(next.handle(), { defaultValue: undefined });
        } catch (error) {
          const answer = answerOf(error);
          await audit(answer.status, undefined, answer.reason).catch((failure: unknown) =>
            this.logger.error({ err: failure, route: routePathOf(req) }, 'audit record not written'),
          );
          throw error;
        }
        await audit(res.statusCode, body);
        return body;
      })(),
    );
  }

  private interactionOf(
    marked: AuditedRouteOptions | undefined,
    req: RequestWithPrincipal,
  ): AuditedInteraction | undefined {
    const params = req.params as Record<string, string | undefined>;
    if (marked !== undefined) {
      const id = params[marked.idParam ?? 'id'];
      return {
        action: marked.action,
        interaction: marked.interaction,
        ...(marked.resourceType === undefined ? {} : { resourceType: marked.resourceType }),
        ...(id === undefined ? {} : { resourceId: id }),
      };
    }
    const routePath = routePathOf(req);
    return routePath === undefined ? undefined : fhirInteractionOf(req.method, routePath, params);
  }
}
