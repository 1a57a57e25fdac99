import { FhirAccess, Public } from '@hospital/platform';
import { Body, Controller, Delete, Get, Inject, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { FhirRestService, type FhirHttpResult } from './fhir-rest.service';
import { FHIR_JSON_UTF8, type FhirHttpRequest, type FhirHttpResponse } from './http-types';

/**
 * FHIR R4 REST endpoints of a service at `/fhir`. Thin: every route hands the request's parts to
 * FhirRestService and writes the status and headers of its answer; errors reach the global
 * FhirExceptionFilter as OperationOutcomes.
 */
@FhirAccess()
@Controller('fhir')
export class FhirController {
  constructor(@Inject(FhirRestService) private readonly fhir: FhirRestService) {}

  @Public()
  @Get('metadata')
  metadata(@Req() req: FhirHttpRequest, @Res({ passthrough: true }) res: FhirHttpResponse): Resource {
    return send(res, this.fhir.metadata(this.fhir.context(req)));
  }

  /** A transaction Bundle, or a batch Bundle where the service accepts them. */
  @Post()
  async transaction(
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
    @Body() body: unknown,
  ): Promise<Resource> {
    return send(res, await this.fhir.bundle(contentType(req), body, this.fhir.context(req, res)));
  }

  @Get(':type')
  async search(
    @Param('type') type: string,
    @Query() query: unknown,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
  ): Promise<Resource> {
    return send(res, await this.fhir.search(type, query, this.fhir.context(req)));
  }

  /** Search by POST: parameters from the query string and a form body (where the app parses one). */
  @Post(':type/_search')
  async searchByPost(
    @Param('type') type: string,
    @Query() query: unknown,
    @Body() body: unknown,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
  ): Promise<Resource> {
    return send(res, await this.fhir.searchByPost(type, query, body, this.fhir.context(req)));
  }

  @Post(':type')
  async create(
    @Param('type') type: string,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
    @Body() body: unknown,
  ): Promise<Resource> {
    return send(res, await this.fhir.create(type, contentType(req), body, this.fhir.context(req, res)));
  }

  @Get(':type/:id')
  async read(
    @Param('type') type: string,
    @Param('id') id: string,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
  ): Promise<Resource> {
    return send(res, await this.fhir.read(type, id, this.fhir.context(req)));
  }

  @Put(':type/:id')
  async update(
    @Param('type') type: string,
    @Param('id') id: string,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
    @Body() body: unknown,
  ): Promise<Resource> {
    const result = await this.fhir.update(
      type,
      id,
      contentType(req),
      req.headers['if-match'],
      body,
      this.fhir.context(req, res),
    );
    return send(res, result);
  }

  @Delete(':type/:id')
  async delete(
    @Param('type') type: string,
    @Param('id') id: string,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
  ): Promise<Resource> {
    return send(res, await this.fhir.delete(type, id, this.fhir.context(req, res)));
  }

  @Get(':type/:id/_history')
  async history(
    @Param('type') type: string,
    @Param('id') id: string,
    @Query() query: unknown,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
  ): Promise<Resource> {
    return send(res, await this.fhir.history(type, id, query, this.fhir.context(req)));
  }

  @Get(':type/:id/_history/:vid')
  async vread(
    @Param('type') type: string,
    @Param('id') id: string,
    @Param('vid') versionId: string,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
  ): Promise<Resource> {
    return send(res, await this.fhir.vread(type, id, versionId, this.fhir.context(req)));
  }
}

function contentType(req: FhirHttpRequest): string | undefined {
  const value = req.headers['content-type'];
  return Array.isArray(value) ? value[0] : value;
}

function send(res: FhirHttpResponse, result: FhirHttpResult): Resource {
  res.status(result.status);
  res.setHeader('Content-Type', FHIR_JSON_UTF8);
  for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value);
  return result.body;
}
