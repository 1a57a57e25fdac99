import { Inject, Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import {
  FhirException,
  type FhirUpdateContext,
  type FhirUpdateResult,
  type FhirWriter,
  type Stored,
} from '@hospital/fhir';
import { BookingService } from './booking/booking.service';
import { SchedulingService } from './scheduling/scheduling.service';

/**
 * The appointments service's FHIR write path (thin): Schedules and Slots are created through
 * SchedulingService, Appointments booked (create) and cancelled or rescheduled (update) through
 * BookingService. The FHIR module has validated each body against R4 and opened only these interactions.
 */
@Injectable()
export class AppointmentsFhirWriter implements FhirWriter {
  constructor(
    @Inject(SchedulingService) private readonly scheduling: SchedulingService,
    @Inject(BookingService) private readonly booking: BookingService,
  ) {}

  async create(resource: Resource): Promise<Stored<Resource>> {
    switch (resource.resourceType) {
      case 'Schedule':
        return this.scheduling.createSchedule(resource);
      case 'Slot':
        return this.scheduling.createSlot(resource);
      case 'Appointment':
        return this.booking.book(resource);
      default:
        throw FhirException.methodNotAllowed('create', resource.resourceType);
    }
  }

  async update(resource: Resource & { id: string }, context: FhirUpdateContext): Promise<FhirUpdateResult> {
    if (resource.resourceType !== 'Appointment') {
      throw FhirException.methodNotAllowed('update', resource.resourceType);
    }
    return this.booking.change(resource, context.ifMatch);
  }
}
