import { All, Controller, Param, Req, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ROLES, Roles } from '@hospital/platform';
import { RateLimitGuard } from '../edge/rate-limit.guard';
import { GatewayErrorCode, GatewayException } from '../gateway.exception';
import { Backends } from '../routing/backends';
import { checkedPath, GatewayProxy } from './gateway-proxy';

/**
 * The services' own APIs (transactions, dead letters, in-doubt resolution, beds, audit review) under the
 * gateway's one origin: `/api/<service>/<rest>` goes to that backend's `/api/<rest>` with the caller's
 * token, for the console and any other client. The gateway lets through a user of any role; the backend
 * decides what that role may do there (an administrator's routes, an auditor's), and audits it.
 */
@Roles(...ROLES)
@Controller('api')
@UseGuards(RateLimitGuard)
export class ApiGatewayController {
  constructor(
    private readonly backends: Backends,
    private readonly proxy: GatewayProxy,
  ) {}

  @All(':service/*path')
  async route(
    @Param('service') service: string,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    checkedPath(request.originalUrl);
    if (!this.backends.all().some((backend) => backend.name === service))
      throw new GatewayException(
        GatewayErrorCode.UnknownService,
        `No service of the hospital is named ${service}`,
      );
    const prefix = `/api/${service}`;
    await this.proxy.forward(
      service,
      request,
      response,
      undefined,
      `/api${request.originalUrl.slice(prefix.length)}`,
    );
  }
}
