import { All, Controller, Get, Header, Inject, Post, Req, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { FHIR_JSON_UTF8, requestBaseUrl } from '@hospital/fhir';
import { withSmartSecurity } from '../capability/smart-security';
import { RateLimitGuard } from '../edge/rate-limit.guard';
import { GatewayErrorCode, GatewayException } from '../gateway.exception';
import { Backends } from '../routing/backends';
import { bundleEntryTypes } from './bundle-types';
import { checkedPath, GatewayProxy } from './gateway-proxy';
import {
  FhirAccess,
  Public,
  SERVICE_CONFIG,
  smartConfiguration,
  type ServiceConfig,
  type SmartConfiguration,
} from '@hospital/platform';

/**
 * The hospital's one FHIR R4 base. `/fhir/metadata` is the gateway's own merged CapabilityStatement;
 * `POST /fhir` (a transaction or batch Bundle) goes to the backend that coordinates its entries' types;
 * every `/fhir/:type[/...]` interaction (read, vread, history, search, `_search`, create, update, delete,
 * `$operations`) goes to the owner of `:type`. A type no backend owns is a 404 without any backend call.
 */
@FhirAccess()
@Controller('fhir')
@UseGuards(RateLimitGuard)
export class FhirGatewayController {
  constructor(
    private readonly backends: Backends,
    private readonly proxy: GatewayProxy,
    @Inject(SERVICE_CONFIG) private readonly config: ServiceConfig,
  ) {}

  @Public()
  @Get('metadata')
  metadata(@Req() request: Request, @Res() response: Response): void {
    const body = withSmartSecurity(
      this.backends.capability(requestBaseUrl(request)),
      smartConfiguration(this.config),
    );
    response.status(200).setHeader('Content-Type', FHIR_JSON_UTF8);
    response.send(JSON.stringify(body));
  }

  /** SMART discovery where a FHIR client looks for it: under its FHIR base (SMART App Launch 2.0). */
  @Public()
  @Get('.well-known/smart-configuration')
  @Header('Cache-Control', 'public, max-age=3600')
  smartConfiguration(): SmartConfiguration {
    return smartConfiguration(this.config);
  }

  @Post()
  async bundle(@Req() request: Request, @Res() response: Response): Promise<void> {
    const body = await this.proxy.readBody(request);
    const types = bundleEntryTypes(body);
    const coordinator = this.backends.owners.coordinatorOf(types);
    if (coordinator === undefined)
      throw new GatewayException(
        GatewayErrorCode.UnknownResourceType,
        'No service of the hospital takes a Bundle with these resource types',
      );
    await this.proxy.forward(coordinator, request, response, body);
  }

  @All()
  system(): never {
    throw new GatewayException(
      GatewayErrorCode.UnknownResourceType,
      'The gateway offers no system-level interaction but POST of a transaction or batch Bundle',
    );
  }

  @All('*path')
  async route(@Req() request: Request, @Res() response: Response): Promise<void> {
    const type = checkedPath(request.originalUrl)[1] ?? '';
    const owner = this.backends.owners.ownerOf(type);
    if (owner === undefined)
      throw new GatewayException(
        GatewayErrorCode.UnknownResourceType,
        'No service of the hospital serves this resource type',
      );
    await this.proxy.forward(owner, request, response);
  }
}
