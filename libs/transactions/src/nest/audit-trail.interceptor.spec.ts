import type { AddressInfo } from 'node:net';
import {
  Body,
  Controller,
  Get,
  HttpCode,
  type INestApplication,
  NotFoundException,
  Param,
  Post,
  Req,
} from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import {
  AUDIT_SINK,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  type AuditRecord,
  type AuditSink,
  type RequestWithPrincipal,
} from '@hospital/platform';
import { AuditedRoute, AuditTrailInterceptor } from './audit-trail.interceptor';

/** Routes shaped like FhirController's and a clinical route outside /fhir. */
@Controller()
class ClinicalController {
  @Get('fhir/metadata')
  metadata(): object {
    return { resourceType: 'CapabilityStatement' };
  }

  @Get('fhir/:type')
  search(@Param('type') type: string, @Req() req: RequestWithPrincipal): object {
    req.principal = {
      kind: 'user',
      id: 'nurse-1',
      role: 'nurse',
      scopes: [],
      breakTheGlass: { reason: 'code blue' },
    };
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [
        { resource: { resourceType: type, id: 'o1', subject: { reference: 'Patient/p1' } } },
        { resource: { resourceType: type, id: 'o2', subject: { reference: 'Patient/p2' } } },
      ],
    };
  }

  @Get('fhir/:type/:id')
  read(@Param('id') id: string): object {
    throw new NotFoundException(`no ${id}`);
  }

  @Post('api/beds/:bedId/admission')
  @HttpCode(200)
  @AuditedRoute({ action: 'U', interaction: 'bed-admission', idParam: 'bedId', patientField: 'patientId' })
  admit(@Param('bedId') bedId: string, @Body() body: { patientId: string }): object {
    return { bedId, patientId: body.patientId };
  }

  @Get('api/beds')
  list(): object {
    return [{ bedId: 'b1', patientId: 'p9' }];
  }
}

describe('the audit trail interceptor', () => {
  let app: INestApplication;
  let base: string;
  const written: AuditRecord[] = [];
  let failing = false;
  const sink: AuditSink = {
    record: async (records) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (failing) throw new Error('outbox unavailable');
      written.push(...records);
    },
  };

  beforeAll(async () => {
    const module = await Test.createTestingModule({
      controllers: [ClinicalController],
      providers: [
        { provide: AUDIT_SINK, useValue: sink },
        { provide: SERVICE_CONFIG, useValue: { service: { name: 'icu-monitor' } } },
        { provide: ROOT_LOGGER, useValue: { error: () => undefined } },
        { provide: APP_INTERCEPTOR, useClass: AuditTrailInterceptor },
      ],
    }).compile();
    app = module.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}`;
  });

  afterAll(() => app.close());
  beforeEach(() => {
    written.length = 0;
    failing = false;
  });

  it('records a search once per patient its Bundle touched, with who, break-the-glass and the gtid', async () => {
    const answer = await fetch(`${base}/fhir/Observation?code=x`, { headers: { 'x-gtid': 'corr-1' } });
    expect(answer.status).toBe(200);
    expect(written.map((r) => r.patient)).toEqual(['p1', 'p2']);
    expect(written[0]).toMatchObject({
      service: 'icu-monitor',
      action: 'R',
      interaction: 'search-type',
      resourceType: 'Observation',
      actor: { kind: 'user', id: 'nurse-1', role: 'nurse' },
      breakTheGlass: 'code blue',
      gtid: 'corr-1',
      outcome: '0',
      status: 200,
    });
    expect(written[0].sourceAddress).toMatch(/127\.0\.0\.1/);
  });

  it('records a refused read with its status and outcome 4, and lets the error answer unchanged', async () => {
    const answer = await fetch(`${base}/fhir/Patient/p7`);
    expect(answer.status).toBe(404);
    expect(written).toEqual([
      expect.objectContaining({
        action: 'R',
        interaction: 'read',
        patient: 'p7',
        status: 404,
        outcome: '4',
        reason: 'http-404',
      }),
    ]);
    expect(written[0].actor).toBeUndefined();
  });

  it('records a marked route outside FHIR with the patient its body names; unmarked ones and metadata not', async () => {
    const answer = await fetch(`${base}/api/beds/b1/admission`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ patientId: 'p3' }),
    });
    expect(answer.status).toBe(200);
    expect((await fetch(`${base}/api/beds`)).status).toBe(200);
    expect((await fetch(`${base}/fhir/metadata`)).status).toBe(200);
    expect(written).toEqual([
      expect.objectContaining({ action: 'U', interaction: 'bed-admission', resourceId: 'b1', patient: 'p3' }),
    ]);
  });

  it('withholds the data when its record cannot be written', async () => {
    failing = true;
    const answer = await fetch(`${base}/fhir/Observation`);
    expect(answer.status).toBe(500);
    expect(await answer.text()).not.toContain('Patient/p1');
  });
});
