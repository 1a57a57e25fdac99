import { FhirAccess, Public } from '@hospital/platform';
import { Body, Controller, Delete, Get, Inject, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException } from '../errors/fhir-exception';
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
  metadata(
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
  ): Resource | undefined {
    return send(res, this.fhir.metadata(this.fhir.context(req)));
  }

  /** A transaction Bundle, or a batch Bundle where the service accepts them. */
  @Post()
  async transaction(
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
    @Body() body: unknown,
  ): Promise<Resource | undefined> {
    return send(res, await this.fhir.bundle(contentType(req), body, this.fhir.context(req, res)));
  }

  @Get(':type')
  async search(
    @Param('type') type: string,
    @Query() query: unknown,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
  ): Promise<Resource | undefined> {
    return send(res, await this.fhir.search(type, query, this.fhir.context(req), this.fhir.preferences(req)));
  }

  /** Search by POST: parameters from the query string and an `application/x-www-form-urlencoded` body. */
  @Post(':type/_search')
  async searchByPost(
    @Param('type') type: string,
    @Query() query: unknown,
    @Body() body: unknown,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
  ): Promise<Resource | undefined> {
    const answer = await this.fhir.searchByPost(
      type,
      query,
      formBody(req, body),
      this.fhir.context(req),
      this.fhir.preferences(req),
    );
    return send(res, answer);
  }

  @Post(':type')
  async create(
    @Param('type') type: string,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
    @Body() body: unknown,
  ): Promise<Resource | undefined> {
    return send(res, await this.fhir.create(type, contentType(req), body, this.fhir.context(req, res)));
  }

  @Get(':type/:id')
  async read(
    @Param('type') type: string,
    @Param('id') id: string,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
  ): Promise<Resource | undefined> {
    return send(res, await this.fhir.read(type, id, this.fhir.context(req)));
  }

  @Put(':type/:id')
  async update(
    @Param('type') type: string,
    @Param('id') id: string,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
    @Body() body: unknown,
  ): Promise<Resource | undefined> {
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
  ): Promise<Resource | undefined> {
    return send(res, await this.fhir.delete(type, id, this.fhir.context(req, res)));
  }

  @Get(':type/:id/_history')
  async history(
    @Param('type') type: string,
    @Param('id') id: string,
    @Query() query: unknown,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
  ): Promise<Resource | undefined> {
    return send(res, await this.fhir.history(type, id, query, this.fhir.context(req)));
  }

  @Get(':type/:id/_history/:vid')
  async vread(
    @Param('type') type: string,
    @Param('id') id: string,
    @Param('vid') versionId: string,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
  ): Promise<Resource | undefined> {
    return send(res, await this.fhir.vread(type, id, versionId, this.fhir.context(req)));
  }
}

const FORM = 'application/x-www-form-urlencoded';

/**
 * The parameters of a search by POST's body: a form body as the platform's parser read it; nothing when
 * the request has no body; 415 for a body of any other media type, whose parameters would otherwise be
 * dropped and the search answered unfiltered.
 */
function formBody(req: FhirHttpRequest, body: unknown): unknown {
  const mediaType = contentType(req)?.split(';')[0]?.trim().toLowerCase();
  if (mediaType === FORM) return body;
  const length = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (!hasBody) return undefined;
  throw new FhirException(FhirErrorCode.UnsupportedMediaType, `Search parameters must be sent as ${FORM}`);
}

function contentType(req: FhirHttpRequest): string | undefined {
  const value = req.headers['content-type'];
  return Array.isArray(value) ? value[0] : value;
}

/** Status, headers and body of an answer; no body (nor Content-Type) for `Prefer: return=minimal`. */
function send(res: FhirHttpResponse, result: FhirHttpResult): Resource | undefined {
  res.status(result.status);
  if (result.body !== undefined) res.setHeader('Content-Type', FHIR_JSON_UTF8);
  for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value);
  return result.body;
}
