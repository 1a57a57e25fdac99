import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Appointment } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { FhirResourceStore, type FhirUpdateResult, type Stored } from '@hospital/fhir';
import { Database, pgErrorCode, PgErrorCode, ROOT_LOGGER, type Session } from '@hospital/platform';
import { CONSTRAINTS, violatedConstraint } from '../database/constraints';
import { SchedulingService } from '../scheduling/scheduling.service';
import type { SlotEntity } from '../scheduling/slot.entity';
import { BookingEvent, BookingNotifier } from './booking-notifier';
import { assertFitsSlot, type BookingRequest, bookingRequestOf } from './booking-request';
import type { BookingEntity } from './booking.entity';
import { BookingErrorCode, BookingException } from './booking.exception';
import { BookingRepository } from './booking.repository';

/**
 * Booking, cancelling and rescheduling. Each is one local transaction over the booking row, the slots'
 * rows and FHIR resources, the Appointment and the confirmation's notification. No double booking is the
 * database's: the partial unique index `appointment_booking_active_slot` lets one booking that is not
 * cancelled hold a slot. The slot's status read before is only a fast refusal of a slot long taken; when
 * two bookings race past it, the second insert waits for the first transaction and fails on the index.
 */
@Injectable()
export class BookingService {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(SchedulingService) private readonly slots: SchedulingService,
    @Inject(BookingRepository) private readonly bookings: BookingRepository,
    @Inject(BookingNotifier) private readonly notifier: BookingNotifier,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {}

  /** Books the slot an Appointment (status booked) names; the slot becomes busy in the same transaction. */
  async book(appointment: Appointment): Promise<Stored<Appointment>> {
    const request = bookingRequestOf(appointment, ['booked']);
    const appointmentId = randomUUID();
    const stored = await refusingDoubleBookings(request.slotId, () =>
      this.db.transaction(async (tx) => {
        const slot = await this.slotToTake(tx, request);
        await this.bookings.insert(tx, {
          appointmentId,
          slotId: slot.slotId,
          patientId: request.patientId,
          practitionerId: request.practitionerId,
        });
        await this.slots.setSlotStatus(tx, slot.slotId, 'busy');
        const created = await this.store.create(tx, appointment, { id: appointmentId });
        await this.notifier.notify(tx, eventOf('booked', created, request, slot));
        return created;
      }),
    );
    this.notifier.committed();
    this.logger.info({ appointmentId, slotId: request.slotId }, 'appointment booked');
    return stored;
  }

  /**
   * An update of a booked Appointment: `cancelled` frees its slot; `booked` with another slot reschedules
   * (the old slot freed, the new one taken, in one transaction: a taken slot changes nothing); `booked`
   * with the same slot stores the new version. A cancelled appointment stays cancelled.
   */
  async change(
    appointment: Appointment & { id: string },
    ifMatch: string | undefined,
  ): Promise<FhirUpdateResult> {
    const request = bookingRequestOf(appointment, ['booked', 'cancelled']);
    const result = await refusingDoubleBookings(request.slotId, () =>
      this.db.transaction(async (tx) => {
        const booking = await this.bookings.findLocked(tx, appointment.id);
        if (booking === undefined) {
          throw new BookingException(
            BookingErrorCode.UnknownAppointment,
            `No Appointment/${appointment.id} was booked here: book with POST /fhir/Appointment`,
            ['Appointment.id'],
          );
        }
        if (request.patientId !== booking.patientId) {
          throw new BookingException(
            BookingErrorCode.PatientChanged,
            `Appointment/${appointment.id} was booked for another patient`,
            ['Appointment.participant.actor'],
          );
        }
        if (booking.status === 'cancelled') {
          if (request.status !== 'cancelled') {
            throw new BookingException(
              BookingErrorCode.AppointmentCancelled,
              `Appointment/${appointment.id} is cancelled: book a new one`,
              ['Appointment.status'],
            );
          }
          // Repeating a cancellation (a client's retry) answers the cancelled appointment, unchanged.
          return { resource: await this.store.read(tx, 'Appointment', appointment.id), created: false };
        }
        if (request.status === 'cancelled') return this.cancel(tx, appointment, request, booking, ifMatch);
        if (request.slotId !== booking.slotId) {
          return this.reschedule(tx, appointment, request, booking, ifMatch);
        }
        const slot = (await this.slots.findSlot(tx, booking.slotId)) as SlotEntity;
        assertFitsSlot(request, slot);
        const updated = await this.store.update(tx, appointment, { ifMatch });
        return { resource: updated.resource, created: false };
      }),
    );
    this.notifier.committed();
    return result;
  }

  private async cancel(
    tx: Session,
    appointment: Appointment & { id: string },
    request: BookingRequest,
    booking: BookingEntity,
    ifMatch: string | undefined,
  ): Promise<FhirUpdateResult> {
    if (request.slotId !== booking.slotId) {
      throw new BookingException(
        BookingErrorCode.CancelOtherSlot,
        `Appointment/${appointment.id} holds Slot/${booking.slotId}: a cancellation names that slot`,
        ['Appointment.slot'],
      );
    }
    const slot = (await this.slots.findSlot(tx, booking.slotId)) as SlotEntity;
    assertFitsSlot(request, slot);
    await this.bookings.setStatus(tx, booking.appointmentId, 'cancelled');
    await this.slots.setSlotStatus(tx, slot.slotId, 'free');
    const updated = await this.store.update(tx, appointment, { ifMatch });
    await this.notifier.notify(tx, eventOf('cancelled', updated.resource, request, slot));
    this.logger.info({ appointmentId: booking.appointmentId, slotId: slot.slotId }, 'appointment cancelled');
    return { resource: updated.resource, created: false };
  }

  private async reschedule(
    tx: Session,
    appointment: Appointment & { id: string },
    request: BookingRequest,
    booking: BookingEntity,
    ifMatch: string | undefined,
  ): Promise<FhirUpdateResult> {
    const slot = await this.slotToTake(tx, request);
    await this.bookings.moveTo(tx, booking.appointmentId, slot.slotId, request.practitionerId);
    await this.slots.setSlotStatus(tx, booking.slotId, 'free');
    await this.slots.setSlotStatus(tx, slot.slotId, 'busy');
    const updated = await this.store.update(tx, appointment, { ifMatch });
    await this.notifier.notify(tx, {
      ...eventOf('rescheduled', updated.resource, request, slot),
      previousSlotId: booking.slotId,
    });
    this.logger.info(
      { appointmentId: booking.appointmentId, from: booking.slotId, to: slot.slotId },
      'appointment rescheduled',
    );
    return { resource: updated.resource, created: false };
  }

  /** The slot a booking asks for: 422 when unknown or not matching it, 409 when already busy. */
  private async slotToTake(tx: Session, request: BookingRequest): Promise<SlotEntity> {
    const slot = await this.slots.findSlot(tx, request.slotId);
    if (slot === undefined) {
      throw new BookingException(BookingErrorCode.UnknownSlot, `No Slot/${request.slotId}`, [
        'Appointment.slot',
      ]);
    }
    assertFitsSlot(request, slot);
    // A fast refusal only: two bookings may both read `free`; the unique index decides between them.
    if (slot.status !== 'free') throw slotTaken(slot.slotId);
    return slot;
  }
}

function slotTaken(slotId: string): BookingException {
  return new BookingException(BookingErrorCode.SlotTaken, `Slot/${slotId} is already booked`, [
    'Appointment.slot',
  ]);
}

/**
 * Runs a booking transaction, answering the index's refusal of a second booking of the slot as a 409
 * (after the transaction rolled back: nothing of the refused booking stays). Two reschedulings that swap
 * slots wait for each other; Postgres ends one with a deadlock error, also a 409.
 */
async function refusingDoubleBookings<T>(slotId: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (violatedConstraint(error) === CONSTRAINTS.activeSlotBooking) throw slotTaken(slotId);
    if (pgErrorCode(error) === PgErrorCode.DeadlockDetected) {
      throw new BookingException(
        BookingErrorCode.ConcurrentChange,
        'The booking crossed another change of the same slots: nothing was changed, try again',
      );
    }
    throw error;
  }
}

function eventOf(
  kind: BookingEvent['kind'],
  appointment: Stored<Appointment>,
  request: BookingRequest,
  slot: SlotEntity,
): BookingEvent {
  return {
    kind,
    appointmentId: appointment.id,
    versionId: appointment.meta.versionId,
    slotId: slot.slotId,
    patientId: request.patientId,
    practitionerId: request.practitionerId,
    start: slot.startAt.toISOString(),
    end: slot.endAt.toISOString(),
  };
}
