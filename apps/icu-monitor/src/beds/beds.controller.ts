import { RequireScopes } from '@hospital/platform';
import { Body, Controller, Delete, Get, Inject, Param, Put, ValidationPipe } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { AuditedRoute } from '@hospital/transactions';
import type { Bed } from './beds.repository';
import { BedsService } from './beds.service';
import { AdmissionDto } from './dto/admission.dto';
import { BedView } from './dto/bed.view';

const body = new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true });

const NOT_FHIR =
  'Bed places and admissions are the unit’s own bookkeeping (the EMR keeps Encounters), served as plain ' +
  'JSON; errors are RFC 9457 problem documents (application/problem+json).';

function view(bed: Bed): BedView {
  return {
    bedId: bed.bedId,
    patientId: bed.admission?.patientId ?? null,
    spo2Scale: bed.admission?.spo2Scale ?? null,
    admittedAt: bed.admission?.admittedAt.toISOString() ?? null,
  };
}

/** The unit's beds: who is in each, on which SpO2 scale. Vitals are accepted only for the admitted patient. */
@ApiTags('beds')
@Controller('api/beds')
export class BedsController {
  constructor(@Inject(BedsService) private readonly beds: BedsService) {}

  @RequireScopes('user/Encounter.rs')
  @Get()
  @AuditedRoute({ action: 'R', interaction: 'bed-list', patientField: 'patientId' })
  @ApiOperation({ summary: 'Every bed of the unit and its admission', description: NOT_FHIR })
  @ApiOkResponse({ type: [BedView] })
  async list(): Promise<BedView[]> {
    return (await this.beds.list()).map(view);
  }

  @RequireScopes('user/Encounter.cu')
  @Put(':bedId/admission')
  @AuditedRoute({ action: 'U', interaction: 'bed-admission', idParam: 'bedId', patientField: 'patientId' })
  @ApiOperation({
    summary: 'Admit a patient to the bed, or change the SpO2 scale of the patient in it',
    description: `409 when another patient is in the bed or the patient is in another one. ${NOT_FHIR}`,
  })
  @ApiParam({ name: 'bedId', example: 'ICU-01' })
  @ApiOkResponse({ type: BedView })
  async admit(@Param('bedId') bedId: string, @Body(body) admission: AdmissionDto): Promise<BedView> {
    return view(await this.beds.admit(bedId, admission.patientId, admission.spo2Scale));
  }

  @RequireScopes('user/Encounter.u')
  @Delete(':bedId/admission')
  @AuditedRoute({ action: 'U', interaction: 'bed-discharge', idParam: 'bedId', patientField: 'patientId' })
  @ApiOperation({
    summary: 'Discharge the patient in the bed (an empty bed stays empty)',
    description: NOT_FHIR,
  })
  @ApiParam({ name: 'bedId', example: 'ICU-01' })
  @ApiOkResponse({ type: BedView })
  async discharge(@Param('bedId') bedId: string): Promise<BedView> {
    return view(await this.beds.discharge(bedId));
  }
}
