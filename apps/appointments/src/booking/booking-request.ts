import type { Appointment } from '@medplum/fhirtypes';
import { codesOf, idReferenced, instantOf, typeReferenced } from '../fhir/references';
import { BookingErrorCode, BookingException } from './booking.exception';
import type { BookingStatus } from './booking.entity';

/** What an Appointment (valid FHIR R4) asks of the booking. */
export interface BookingRequest {
  status: BookingStatus;
  slotId: string;
  patientId: string;
  practitionerId: string;
  /** The service type codes it names (none: any service of the slot). */
  serviceCodes: string[];
  /** `start` and `end` (R4 requires them of a booked Appointment: invariant app-3): the slot's. */
  start?: Date;
  end?: Date;
}

/** The slot a booking is checked against. */
export interface BookableSlot {
  slotId: string;
  practitionerId: string;
  serviceCode: string;
  startAt: Date;
  endAt: Date;
}

/** A participant type the booking takes part in; any other actor is refused. */
const PARTICIPANT_TYPES = ['Patient', 'Practitioner'] as const;

function one(appointment: Appointment, type: (typeof PARTICIPANT_TYPES)[number]): string {
  const ids = (appointment.participant ?? [])
    .filter((p) => typeReferenced(p.actor) === type)
    .map((p) => idReferenced(p.actor, type));
  const code = type === 'Patient' ? BookingErrorCode.PatientRequired : BookingErrorCode.PractitionerRequired;
  if (ids.length !== 1 || ids[0] === undefined) {
    throw new BookingException(code, `Exactly one participant's actor is a reference ${type}/<id>`, [
      'Appointment.participant.actor',
    ]);
  }
  return ids[0];
}

/**
 * Checks an Appointment on its own: a status among `allowed`, exactly one slot `Slot/<id>`, exactly one
 * patient and one practitioner as participants (and no other actor), `start`/`end` as instants when given.
 * A BookingException (400) names the element otherwise. Whether the slot exists, is free and matches is
 * for the database to say.
 */
export function bookingRequestOf(
  appointment: Appointment,
  allowed: readonly BookingStatus[],
): BookingRequest {
  const status = appointment.status as BookingStatus;
  if (!allowed.includes(status)) {
    throw new BookingException(
      BookingErrorCode.UnsupportedStatus,
      `An Appointment ${allowed.length === 1 ? 'is created' : 'is changed to'} ${allowed.join(' or ')}, not ${appointment.status}`,
      ['Appointment.status'],
    );
  }
  const slots = appointment.slot ?? [];
  const slotId = slots.length === 1 ? idReferenced(slots[0], 'Slot') : undefined;
  if (slotId === undefined) {
    throw new BookingException(BookingErrorCode.SlotRequired, 'An Appointment names one slot: Slot/<id>', [
      'Appointment.slot',
    ]);
  }
  for (const participant of appointment.participant ?? []) {
    const type = typeReferenced(participant.actor);
    if (type === undefined || !(PARTICIPANT_TYPES as readonly string[]).includes(type)) {
      throw new BookingException(
        BookingErrorCode.UnsupportedParticipant,
        'Every participant is the patient (Patient/<id>) or the practitioner (Practitioner/<id>)',
        ['Appointment.participant.actor'],
      );
    }
  }
  const request: BookingRequest = {
    status,
    slotId,
    patientId: one(appointment, 'Patient'),
    practitionerId: one(appointment, 'Practitioner'),
    serviceCodes: codesOf(appointment.serviceType),
  };
  for (const element of ['start', 'end'] as const) {
    const value = appointment[element];
    if (value === undefined) continue;
    const at = instantOf(value);
    if (at === undefined) {
      throw new BookingException(BookingErrorCode.InvalidTimes, `Appointment.${element} is not an instant`, [
        `Appointment.${element}`,
      ]);
    }
    request[element] = at;
  }
  if (request.start !== undefined && request.end !== undefined && request.end <= request.start) {
    throw new BookingException(BookingErrorCode.InvalidTimes, 'Appointment.end must be after its start', [
      'Appointment.start',
      'Appointment.end',
    ]);
  }
  return request;
}

/**
 * Checks a well-formed request against the slot it names: the practitioner is the slot's schedule's, the
 * service types (when given) include the slot's, and `start`/`end` (when given) are the slot's. 422s.
 */
export function assertFitsSlot(request: BookingRequest, slot: BookableSlot): void {
  if (request.practitionerId !== slot.practitionerId) {
    throw new BookingException(
      BookingErrorCode.PractitionerMismatch,
      `The practitioner is not the one of Slot/${slot.slotId}'s schedule`,
      ['Appointment.participant.actor'],
    );
  }
  if (request.serviceCodes.length > 0 && !request.serviceCodes.includes(slot.serviceCode)) {
    throw new BookingException(
      BookingErrorCode.ServiceMismatch,
      `Slot/${slot.slotId} offers service type ${slot.serviceCode}`,
      ['Appointment.serviceType'],
    );
  }
  const differs = (given: Date | undefined, held: Date) =>
    given !== undefined && given.getTime() !== held.getTime();
  if (differs(request.start, slot.startAt) || differs(request.end, slot.endAt)) {
    throw new BookingException(
      BookingErrorCode.TimesMismatch,
      `Appointment start and end must be those of Slot/${slot.slotId}`,
      ['Appointment.start', 'Appointment.end'],
    );
  }
}
