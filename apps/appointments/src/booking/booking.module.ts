import { Module } from '@nestjs/common';
import { SchedulingModule } from '../scheduling/scheduling.module';
import { BookingNotifier, NoConfirmationNotifier } from './booking-notifier';
import { BookingRepository } from './booking.repository';
import { BookingService } from './booking.service';

/**
 * Booking, cancelling and rescheduling (the FHIR writer uses the service). The notifier is a port: the
 * best-effort confirmation notifier replaces NoConfirmationNotifier when it lands.
 */
@Module({
  imports: [SchedulingModule],
  providers: [
    BookingRepository,
    BookingService,
    { provide: BookingNotifier, useClass: NoConfirmationNotifier },
  ],
  exports: [BookingService],
})
export class BookingModule {}
