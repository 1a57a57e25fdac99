import { Injectable } from '@nestjs/common';
import type { Session } from '@hospital/platform';

/** A booking change, as the clinician and the patient will be told. Ids and times only. */
export interface BookingEvent {
  /** With `appointmentId` and the appointment's version, the confirmation's idempotency key. */
  kind: 'booked' | 'cancelled' | 'rescheduled';
  appointmentId: string;
  /** The appointment's FHIR version this change wrote. */
  versionId: string;
  slotId: string;
  /** For a rescheduling: the slot it left. */
  previousSlotId?: string;
  patientId: string;
  practitionerId: string;
  start: string;
  end: string;
}

/**
 * The seam where confirmations leave for the clinician and the patient. Called inside the booking's local
 * transaction, once per booking, cancellation or rescheduling, so that a notifier writing a notification
 * log commits it together with the booking — or not at all, when the booking is refused.
 */
export abstract class BookingNotifier {
  abstract notify(tx: Session, event: BookingEvent): Promise<void>;

  /** Called after a booking transaction committed (wakes the dispatchers, say). */
  abstract committed(): void;
}

/**
 * Sends nothing: for a process (or a test) that runs bookings without confirmations. The service uses
 * `ConfirmationNotifier` (`../confirmations/`), which appends each event to the best-effort notification
 * log in the booking's transaction.
 */
@Injectable()
export class NoConfirmationNotifier extends BookingNotifier {
  notify(): Promise<void> {
    return Promise.resolve();
  }

  committed(): void {}
}
