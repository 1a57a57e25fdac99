import { RequireScopes } from '@hospital/platform';
import { Controller, Get, Inject, Query, ValidationPipe } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { FreeSlotsQuery } from './dto/free-slots.query';
import { FreeSlotView } from './dto/free-slot.view';
import { SchedulingService } from './scheduling.service';

const query = new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true });

/** The most slots one answer lists (a practitioner's day holds far fewer). */
export const FREE_SLOTS_LIMIT = 200;

const DAY_MS = 86_400_000;

/**
 * Free slots by practitioner, service and day in one call: what FHIR search would say with the chained
 * `Slot?schedule.actor=Practitioner/x`, which the FHIR layer does not support. Plain JSON; errors are
 * RFC 9457 problem documents.
 */
@ApiTags('slots')
@RequireScopes('user/Slot.s')
@Controller('api/slots')
export class FreeSlotsController {
  constructor(@Inject(SchedulingService) private readonly scheduling: SchedulingService) {}

  @Get('free')
  @ApiOperation({
    summary: 'A practitioner’s free slots on a day (UTC), of a service type if given, by start time',
    description: `At most ${FREE_SLOTS_LIMIT}. The FHIR equivalent is two searches: Schedule?actor=Practitioner/<id>, then Slot?schedule=…&status=free&start=ge<day>&start=lt<next day>.`,
  })
  @ApiOkResponse({ type: [FreeSlotView] })
  async free(@Query(query) params: FreeSlotsQuery): Promise<FreeSlotView[]> {
    const from = new Date(`${params.date}T00:00:00Z`);
    const slots = await this.scheduling.freeSlots({
      practitionerId: params.practitioner,
      serviceCode: params.service,
      from,
      to: new Date(from.getTime() + DAY_MS),
      limit: FREE_SLOTS_LIMIT,
    });
    return slots.map((slot) => ({
      reference: `Slot/${slot.slotId}`,
      slotId: slot.slotId,
      schedule: `Schedule/${slot.scheduleId}`,
      practitioner: `Practitioner/${slot.practitionerId}`,
      serviceType: slot.serviceCode,
      start: slot.startAt.toISOString(),
      end: slot.endAt.toISOString(),
    }));
  }
}
