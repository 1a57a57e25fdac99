import { Module } from '@nestjs/common';
import { FreeSlotsController } from './free-slots.controller';
import { SchedulingRepository } from './scheduling.repository';
import { SchedulingService } from './scheduling.service';

/** Schedules and slots: their creation (through the FHIR writer), the free-slot search, slot status. */
@Module({
  controllers: [FreeSlotsController],
  providers: [SchedulingRepository, SchedulingService],
  exports: [SchedulingService],
})
export class SchedulingModule {}
