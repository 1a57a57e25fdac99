import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import { AppointmentsFhirWriter } from './appointments-fhir.writer';
import { BookingEntity } from './booking/booking.entity';
import { BookingModule } from './booking/booking.module';
import type { AppointmentsConfig } from './config';
import { APPOINTMENT_RESOURCES } from './fhir-resources';
import { ScheduleEntity } from './scheduling/schedule.entity';
import { SchedulingModule } from './scheduling/scheduling.module';
import { SlotEntity } from './scheduling/slot.entity';

/**
 * The appointments service: Schedules and Slots created by staff, Appointments booked, cancelled and
 * rescheduled at /fhir; a practitioner's free slots of a day at /api/slots/free. Each write is one local
 * transaction over the FHIR resources and the relational rows whose constraints refuse overlapping slots
 * and double bookings.
 */
@Module({})
export class AppointmentsModule {
  static forRoot(config: AppointmentsConfig): DynamicModule {
    return {
      module: AppointmentsModule,
      imports: [
        PlatformModule.forRoot(config, { entities: [ScheduleEntity, SlotEntity, BookingEntity] }),
        FhirModule.forRoot({
          serviceName: config.service.name,
          resources: APPOINTMENT_RESOURCES,
          writes: { Schedule: ['create'], Slot: ['create'], Appointment: ['create', 'update'] },
          batch: true,
          writer: AppointmentsFhirWriter,
          imports: [SchedulingModule, BookingModule],
        }),
        SchedulingModule,
      ],
    };
  }
}
