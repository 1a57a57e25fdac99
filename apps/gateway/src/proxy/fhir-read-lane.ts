import { Inject, Injectable, NestMiddleware, RequestMethod } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AccessGuard, type RequestWithPrincipal } from '@hospital/platform';
import { RateLimitGuard } from '../edge/rate-limit.guard';
import { Backends } from '../routing/backends';
import { checkedPath, GatewayProxy } from './gateway-proxy';

const RESOURCE_TYPE = /^[A-Z][A-Za-z]{0,63}$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** Where the lane is mounted (Nest's middleware route), ahead of the guarded `ALL /fhir/*path`. */
export const FHIR_READ_LANE = { path: 'fhir/*path', method: RequestMethod.GET };
/** The lane as Express serves it: what the route check (`tools/access`) finds beside the guarded route. */
export const FHIR_READ_LANE_ROUTE = `GET /${FHIR_READ_LANE.path}`;
/** The route template the lane's requests are counted under: the guarded route's own. */
const GUARDED_ROUTE = { path: `/${FHIR_READ_LANE.path}` };

/**
 * The resource type of a read (`/fhir/<Type>/<id>`) or a search (`/fhir/<Type>?…`), the two interactions
 * the lane takes; undefined for every other path (history, `$operations`, `_search`, the base, metadata).
 */
export function laneResourceType(originalUrl: string): string | undefined {
  let segments: string[];
  try {
    segments = checkedPath(originalUrl);
  } catch {
    return undefined;
  }
  const [base, type, id, ...rest] = segments;
  if (base !== 'fhir' || type === undefined || !RESOURCE_TYPE.test(type) || rest.length > 0) return undefined;
  return id === undefined || FHIR_ID.test(id) ? type : undefined;
}

/**
 * The gateway's lane for the hospital's busiest traffic, FHIR reads and searches (GET), ahead of Nest's
 * router: a request the access guard admits outright (`AccessGuard.admitsFhirRequest`: a user's token
 * whose scopes cover it, no break-the-glass) and the rate limit lets through is forwarded to its type's
 * owner at once, skipping the guard's second look, the interceptors and the controller. Everything else
 * — another method or path, no owner, any refusal, break-the-glass, a backend that could not be reached —
 * goes on to `FhirGatewayController`, whose guards answer it as before and audit their refusals; a read
 * that failed here is simply sent again from there. The platform's middleware (metrics, log context) and
 * the security headers run before the lane.
 */
@Injectable()
export class FhirReadLane implements NestMiddleware {
  constructor(
    @Inject(AccessGuard) private readonly access: AccessGuard,
    @Inject(RateLimitGuard) private readonly rateLimit: RateLimitGuard,
    @Inject(Backends) private readonly backends: Backends,
    @Inject(GatewayProxy) private readonly proxy: GatewayProxy,
  ) {}

  use(request: Request, response: Response, next: NextFunction): void {
    this.forward(request as RequestWithPrincipal, response).then(
      (forwarded) => {
        if (!forwarded) next();
      },
      () => {
        if (!response.headersSent && !response.destroyed) next();
      },
    );
  }

  /** Forwards the request when the lane may take it; false when it is left to the guarded route. */
  private async forward(request: RequestWithPrincipal, response: Response): Promise<boolean> {
    if (request.method !== 'GET') return false;
    const type = laneResourceType(request.originalUrl);
    const owner = type === undefined ? undefined : this.backends.owners.ownerOf(type);
    if (owner === undefined) return false;
    // The whole path: under a middleware's mount point `request.path` is relative to it.
    const path = request.originalUrl.split('?')[0] ?? '';
    const principal = await this.access.admitsFhirRequest(request.method, path, request.headers);
    if (principal === undefined) return false;
    request.principal = principal;
    if (!this.rateLimit.admits(request)) return false;
    (request as { route?: unknown }).route = GUARDED_ROUTE;
    await this.proxy.forward(owner, request, response);
    return true;
  }
}
