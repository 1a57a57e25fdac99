import { All, Controller, Param, Req, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Roles, type Role } from '@hospital/platform';
import { RateLimitGuard } from '../edge/rate-limit.guard';
import { GatewayErrorCode, GatewayException } from '../gateway.exception';
import { Backends } from '../routing/backends';
import { checkedPath, GatewayProxy } from './gateway-proxy';

/** The roles `/api/<service>/…` admits at the gateway. */
export const API_ROLES: readonly Role[] = ['administrator', 'auditor', 'clinician', 'nurse', 'pharmacist'];

/**
 * The services' own APIs (transactions, dead letters, in-doubt resolution, beds, audit review) under the
 * gateway's one origin: `/api/<service>/<rest>` goes to that backend's `/api/<rest>` with the caller's
 * token, for the operations console and any other client. The gateway lets through the roles whose work
 * the console shows (administrators: transactions, dead letters, in-doubt; auditors: the audit trail;
 * clinicians and nurses: the ICU board); the backend then decides what that role may do on the route
 * (an administrator's routes, an auditor's), and audits it. Pharmacists (and clinicians, nurses and
 * administrators) also read the pharmacy's stock there (`/api/pharmacy-inventory/inventory`).
 */
@Roles(...API_ROLES)
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
