import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import {
  AuditTrailModule,
  BestEffortModule,
  CapacityModule,
  QuotaCacheModule,
  quotaCompletionsConsumer,
} from '@hospital/transactions';
import { AppointmentsFhirWriter } from './appointments-fhir.writer';
import { BookingEntity } from './booking/booking.entity';
import { BookingModule } from './booking/booking.module';
import type { AppointmentsConfig } from './config';
import { CONFIRMATION_CHANNEL_DEFINITIONS } from './confirmations/confirmations.channels';
import { APPOINTMENT_RESOURCES } from './fhir-resources';
import { ScheduleEntity } from './scheduling/schedule.entity';
import { SchedulingModule } from './scheduling/scheduling.module';
import { SLOT_CAPACITY } from './scheduling/slot-capacity';
import { SlotEntity } from './scheduling/slot.entity';

/**
 * The appointments service: Schedules and Slots created by staff, Appointments booked, cancelled and
 * rescheduled at /fhir; a practitioner's free slots of a day at /api/slots/free. Each write is one local
 * transaction over the FHIR resources and the relational rows whose constraints refuse overlapping slots
 * and double bookings — and the confirmations to the clinician and the patient, appended to the
 * best-effort notification log in the same transaction and delivered by e-mail, SMS and push, each channel
 * by its own dispatcher (`/api/notifications`). Each slot is also reservable capacity (`slot:<id>`), which
 * a treatment plan reserves by saga, TCC or in the quota cache at /api/capacity.
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
        BestEffortModule.forRoot({ channels: CONFIRMATION_CHANNEL_DEFINITIONS }),
        CapacityModule.forRoot({ kinds: [SLOT_CAPACITY] }),
        QuotaCacheModule.forRoot({ participant: 'appointments' }),
        SchedulingModule,
        AuditTrailModule.forRoot({ messaging: { consumers: [quotaCompletionsConsumer('appointments')] } }),
      ],
    };
  }
}
