import { Controller, Get, Inject, Param, Query, Req, Res } from '@nestjs/common';
import type { Bundle, CapabilityStatement, Parameters } from '@medplum/fhirtypes';
import { FHIR_JSON_UTF8, searchSetBundle, type SearchRequest } from '@hospital/fhir';
import type { Request, Response } from 'express';
import { AuditEventRepository } from '../trail/audit-event.repository';
import { AuditErrorCode, AuditException } from '../trail/audit.exception';
import { verifyChain } from '../trail/chain-verification';
import { toAuditEvent } from './audit-event.mapper';
import { AUDIT_SEARCH_PARAMETERS, parseAuditSearch } from './audit-search';
import { FhirAccess, Public, Roles } from '@hospital/platform';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function baseUrl(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}/fhir`;
}

/**
 * The audit trail as FHIR R4 `AuditEvent`s, for auditors and compliance review: search (patient, agent,
 * date range, action, outcome, entity type; sortable by each; paged) and read. Read-only: records arrive
 * only through the audit queue. For auditors only: a clinician's `user/*.cruds` covers every type by its
 * scope, but not the trail of everyone's accesses.
 */
@FhirAccess()
@Roles('auditor')
@Controller('fhir')
export class AuditFhirController {
  constructor(@Inject(AuditEventRepository) private readonly repository: AuditEventRepository) {}

  @Public()
  @Get('metadata')
  metadata(@Res({ passthrough: true }) res: Response): CapabilityStatement {
    res.setHeader('Content-Type', FHIR_JSON_UTF8);
    return {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: '2026-12-06',
      kind: 'instance',
      software: { name: 'hospital audit' },
      fhirVersion: '4.0.1',
      format: ['application/fhir+json'],
      rest: [
        {
          mode: 'server',
          resource: [
            {
              type: 'AuditEvent',
              interaction: [{ code: 'read' }, { code: 'search-type' }],
              operation: [
                { name: 'verify', definition: 'urn:hospital:fhir:OperationDefinition/AuditEvent-verify' },
              ],
              searchParam: [
                ...AUDIT_SEARCH_PARAMETERS.map((p) => ({ name: p.name, type: p.type, documentation: p.doc })),
                {
                  name: '_sort',
                  type: 'string',
                  documentation: 'Any search parameter above, - for descending',
                },
                { name: '_count', type: 'number', documentation: 'Page size, at most 100' },
              ],
            },
          ],
        },
      ],
    };
  }

  @Get('AuditEvent')
  async search(
    @Query() query: Record<string, unknown>,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<Bundle> {
    const parsed = parseAuditSearch(query);
    const { rows, total } = await this.repository.search(parsed);
    const request: SearchRequest = {
      resourceType: 'AuditEvent',
      filters: [],
      count: parsed.count,
      offset: parsed.offset,
      sort: [],
      total: true,
      params: Object.entries(query)
        .filter(([name]) => name !== '_count' && name !== '_offset')
        .flatMap(([name, value]) =>
          (Array.isArray(value) ? value : [value]).map((v) => [name, String(v)] as const),
        ),
    };
    res.setHeader('Content-Type', FHIR_JSON_UTF8);
    return searchSetBundle({ baseUrl: baseUrl(req), request, total, resources: rows.map(toAuditEvent) });
  }

  /** The chain's verification as a FHIR operation: the same report as `/api/audit/verify`, as Parameters. */
  @FhirAccess({ permission: 'r' })
  @Get('AuditEvent/\\$verify')
  async verify(@Res({ passthrough: true }) res: Response): Promise<Parameters> {
    const report = await verifyChain(this.repository);
    res.setHeader('Content-Type', FHIR_JSON_UTF8);
    const broken = report.broken;
    return {
      resourceType: 'Parameters',
      parameter: [
        { name: 'intact', valueBoolean: broken === undefined },
        { name: 'checked', valueInteger: report.checked },
        { name: 'lastSeq', valueInteger: report.lastSeq },
        ...(broken === undefined
          ? []
          : [
              { name: 'brokenKind', valueCode: broken.kind },
              { name: 'brokenSeq', valueInteger: broken.seq },
              { name: 'brokenId', valueId: broken.id },
              ...(broken.missingSeq === undefined
                ? []
                : [{ name: 'missingSeq', valueInteger: broken.missingSeq }]),
              ...(broken.missingRecords === undefined
                ? []
                : [{ name: 'missingRecords', valueInteger: broken.missingRecords }]),
            ]),
      ],
    };
  }

  @Get('AuditEvent/:id')
  async read(@Param('id') id: string, @Res({ passthrough: true }) res: Response): Promise<unknown> {
    const row = UUID.test(id) ? await this.repository.byId(id) : undefined;
    if (row === undefined)
      throw new AuditException(AuditErrorCode.NotFound, `AuditEvent/${id.slice(0, 64)} not found`);
    res.setHeader('Content-Type', FHIR_JSON_UTF8);
    return toAuditEvent(row);
  }
}
