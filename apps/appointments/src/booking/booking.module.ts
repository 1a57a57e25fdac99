import { Module } from '@nestjs/common';
import { SchedulingModule } from '../scheduling/scheduling.module';
import { ConfirmationNotifier } from '../confirmations/confirmation.notifier';
import { BookingNotifier } from './booking-notifier';
import { BookingRepository } from './booking.repository';
import { BookingService } from './booking.service';

/**
 * Booking, cancelling and rescheduling (the FHIR writer uses the service). Each change's confirmations are
 * appended to the best-effort notification log in its transaction (`Notifications`, global from the root
 * module's BestEffortModule) and delivered by the confirmation channels' dispatchers.
 */
@Module({
  imports: [SchedulingModule],
  providers: [
    BookingRepository,
    BookingService,
    { provide: BookingNotifier, useClass: ConfirmationNotifier },
  ],
  exports: [BookingService],
})
export class BookingModule {}
