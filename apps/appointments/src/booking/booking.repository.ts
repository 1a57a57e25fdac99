import { Injectable } from '@nestjs/common';
import type { EntityExecutor } from '@hospital/platform';
import { BookingEntity, type BookingStatus } from './booking.entity';

/** A new booking: the appointment and the slot it takes. */
export interface NewBooking {
  appointmentId: string;
  slotId: string;
  patientId: string;
  practitionerId: string;
}

/**
 * `appointment_booking` through its TypeORM entity, on the session of the booking's transaction. `insert`
 * and `moveTo` are where a double booking is refused: the partial unique index
 * `appointment_booking_active_slot` fails the statement (after waiting for a concurrent transaction that
 * holds the slot to end), and the service turns that violation into a 409.
 */
@Injectable()
export class BookingRepository {
  async insert(exec: EntityExecutor, booking: NewBooking): Promise<void> {
    await exec.repository(BookingEntity).insert({ ...booking, status: 'booked' });
  }

  /** The booking, locked until the transaction ends (a cancellation and a rescheduling take turns). */
  async findLocked(exec: EntityExecutor, appointmentId: string): Promise<BookingEntity | undefined> {
    const row = await exec
      .repository(BookingEntity)
      .findOne({ where: { appointmentId }, lock: { mode: 'pessimistic_write' } });
    return row ?? undefined;
  }

  async setStatus(exec: EntityExecutor, appointmentId: string, status: BookingStatus): Promise<void> {
    await exec.repository(BookingEntity).update({ appointmentId }, { status, updatedAt: () => 'now()' });
  }

  /** Moves the booking to another slot (rescheduling): the same index refuses a slot already held. */
  async moveTo(
    exec: EntityExecutor,
    appointmentId: string,
    slotId: string,
    practitionerId: string,
  ): Promise<void> {
    await exec
      .repository(BookingEntity)
      .update({ appointmentId }, { slotId, practitionerId, updatedAt: () => 'now()' });
  }
}
