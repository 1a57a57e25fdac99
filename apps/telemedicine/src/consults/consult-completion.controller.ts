import { FhirAccess } from '@hospital/platform';
import { Body, Controller, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Parameters } from '@medplum/fhirtypes';
import {
  FHIR_JSON_UTF8,
  FhirErrorCode,
  FhirException,
  FhirRestService,
  type FhirHttpRequest,
  type FhirHttpResponse,
} from '@hospital/fhir';
import { GTID_HEADER } from '@hospital/transactions';
import { ref } from './consult-codes';
import { ConsultCompletionService } from './consult-completion.service';

const JSON_TYPES: readonly string[] = ['application/fhir+json', 'application/json'];

/**
 * The consult completion operation, `POST /fhir/ServiceRequest/:id/$complete` with a `Parameters` body
 * (see `consult-completion.request.ts`), committed in the mode `?_mode=` or `x-transaction-mode` asks
 * (3pc by default; see `consult-transaction-mode.ts`). Thin: the service plans, then commits. Answers 200
 * with `Parameters` naming the completed request, the finished session, the findings and the
 * recommendation; the gtid is in `x-gtid` of that answer and of a completion that was refused or whose
 * outcome is not known yet.
 */
@FhirAccess()
@Controller('fhir')
export class ConsultCompletionController {
  constructor(
    @Inject(ConsultCompletionService) private readonly completions: ConsultCompletionService,
    @Inject(FhirRestService) private readonly fhir: FhirRestService,
  ) {}

  @Post('ServiceRequest/:id/\\$complete')
  @HttpCode(200)
  async complete(
    @Param('id') id: string,
    @Req() req: FhirHttpRequest,
    @Res({ passthrough: true }) res: FhirHttpResponse,
    @Body() body: unknown,
  ): Promise<Parameters> {
    const contentType = req.headers['content-type'];
    const mediaType = (Array.isArray(contentType) ? contentType[0] : contentType)?.split(';')[0]?.trim();
    if (mediaType === undefined || !JSON_TYPES.includes(mediaType.toLowerCase()))
      throw new FhirException(
        FhirErrorCode.UnsupportedMediaType,
        'Content-Type must be application/fhir+json',
      );
    const context = this.fhir.context(req, res);
    const mode = this.completions.modeOf(context.request);
    const plan = await this.completions.plan(id, body);
    // The gtid goes out with every answer once there is one, refusals too: /api/transactions tells the rest.
    res.setHeader(GTID_HEADER, plan.gtid);
    await this.completions.commit(plan, context.correlationId, mode);
    res.setHeader('Content-Type', FHIR_JSON_UTF8);
    return {
      resourceType: 'Parameters',
      parameter: [
        { name: 'gtid', valueString: plan.gtid },
        { name: 'serviceRequest', valueReference: ref('ServiceRequest', plan.serviceRequest.id) },
        { name: 'session', valueReference: ref('Encounter', plan.encounter.id) },
        { name: 'diagnosticReport', valueReference: ref('DiagnosticReport', plan.diagnosticReport.id) },
        { name: 'communication', valueReference: ref('Communication', plan.communication.id) },
      ],
    };
  }
}
