import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { AppointmentsModule } from './appointments.module';
import { appointmentsConfig } from './config';

runService(
  'appointments',
  () => appointmentsConfig(),
  (config) => AppointmentsModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    description:
      'Appointments: Schedules and Slots (created by staff) and Appointments (booked, cancelled, rescheduled; never two on one slot) at /fhir; a practitioner’s free slots of a day at /api/slots/free.',
  },
);
