import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way the service refuses a booking, a cancellation or a rescheduling. */
export enum BookingErrorCode {
  /** An Appointment is created `booked`, and changed to `booked` (rescheduled) or `cancelled`. */
  UnsupportedStatus = 'unsupported-status',
  /** `slot` must be exactly one reference `Slot/<id>`. */
  SlotRequired = 'slot-required',
  /** Exactly one participant's actor must be `Patient/<id>`. */
  PatientRequired = 'patient-required',
  /** Exactly one participant's actor must be `Practitioner/<id>`. */
  PractitionerRequired = 'practitioner-required',
  /** Every participant names an actor, and only the patient and the practitioner take part. */
  UnsupportedParticipant = 'unsupported-participant',
  /** `start` and `end`, when given, are instants with `end` after `start`. */
  InvalidTimes = 'invalid-times',
  /** The slot named does not exist. */
  UnknownSlot = 'unknown-slot',
  /** The slot is busy: booked by another appointment, or blocked (the unique index refused it). */
  SlotTaken = 'slot-taken',
  /** The practitioner is not the actor of the slot's schedule. */
  PractitionerMismatch = 'practitioner-mismatch',
  /** The Appointment's `serviceType` does not include the slot's. */
  ServiceMismatch = 'service-mismatch',
  /** The Appointment's `start`/`end` are not the slot's. */
  TimesMismatch = 'times-mismatch',
  /** No Appointment with that id was booked here (appointments are created by POST). */
  UnknownAppointment = 'unknown-appointment',
  /** An update names another patient than the one the appointment was booked for. */
  PatientChanged = 'patient-changed',
  /** A cancellation names another slot than the one the appointment holds. */
  CancelOtherSlot = 'cancel-other-slot',
  /** The appointment was cancelled: it stays so (book a new one). */
  AppointmentCancelled = 'appointment-cancelled',
  /** Two changes crossed (two reschedulings swapping slots): nothing was changed, try again. */
  ConcurrentChange = 'concurrent-change',
}

/**
 * Each code's transports: malformed Appointments are a 400; valid FHIR the booked state refuses a 422 (an
 * unknown slot included: the request is well-formed, what it names does not exist); a taken slot, a
 * cancelled appointment or crossing changes a 409; an update of an appointment never booked a 404.
 */
export const BOOKING_ERRORS: ErrorCodeMappings<BookingErrorCode> = {
  [BookingErrorCode.UnsupportedStatus]: { status: 400, issue: 'not-supported', message: 'dead-letter' },
  [BookingErrorCode.SlotRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [BookingErrorCode.PatientRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [BookingErrorCode.PractitionerRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [BookingErrorCode.UnsupportedParticipant]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [BookingErrorCode.InvalidTimes]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [BookingErrorCode.UnknownSlot]: { status: 422, issue: 'not-found', message: 'dead-letter' },
  [BookingErrorCode.SlotTaken]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [BookingErrorCode.PractitionerMismatch]: { status: 422, issue: 'business-rule', message: 'dead-letter' },
  [BookingErrorCode.ServiceMismatch]: { status: 422, issue: 'business-rule', message: 'dead-letter' },
  [BookingErrorCode.TimesMismatch]: { status: 422, issue: 'business-rule', message: 'dead-letter' },
  [BookingErrorCode.UnknownAppointment]: { status: 404, issue: 'not-found', message: 'dead-letter' },
  [BookingErrorCode.PatientChanged]: { status: 422, issue: 'business-rule', message: 'dead-letter' },
  [BookingErrorCode.CancelOtherSlot]: { status: 422, issue: 'business-rule', message: 'dead-letter' },
  [BookingErrorCode.AppointmentCancelled]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [BookingErrorCode.ConcurrentChange]: { status: 409, issue: 'conflict', message: 'retry' },
};

/** A refused booking; messages name elements, ids and codes, never the patient. */
export class BookingException extends DomainException<BookingErrorCode> {
  constructor(code: BookingErrorCode, message: string, expression: readonly string[] = []) {
    super('booking', code, BOOKING_ERRORS, message, { expression });
  }
}
