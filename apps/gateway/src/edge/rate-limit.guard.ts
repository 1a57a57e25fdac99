import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { RequestWithPrincipal, SERVICE_CONFIG } from '@hospital/platform';
import type { GatewayConfig } from '../config';
import { GatewayErrorCode, GatewayException } from '../gateway.exception';
import { TokenBuckets } from './token-buckets';

/**
 * The per-client rate limit (RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST): a client is the subject of its
 * verified token when the access guard (which runs first) proved one, else its address (behind a trusted
 * proxy, the address X-Forwarded-For names). Over the limit: 429, Retry-After, an OperationOutcome.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  private readonly buckets?: TokenBuckets;

  constructor(@Inject(SERVICE_CONFIG) config: GatewayConfig) {
    const { RATE_LIMIT_PER_SECOND: rate, RATE_LIMIT_BURST: burst } = config.env;
    if (rate > 0) this.buckets = new TokenBuckets(rate, burst);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.buckets === undefined) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<RequestWithPrincipal & { ip?: string }>();
    const client =
      request.principal !== undefined
        ? `${request.principal.kind}:${request.principal.id}`
        : `address:${request.ip ?? 'unknown'}`;
    const taken = this.buckets.take(client);
    if (taken.allowed) return true;
    http.getResponse<Response>().setHeader('Retry-After', String(taken.retryAfterSeconds));
    throw new GatewayException(
      GatewayErrorCode.RateLimited,
      `Too many requests from this client: retry after ${taken.retryAfterSeconds} s`,
    );
  }
}
