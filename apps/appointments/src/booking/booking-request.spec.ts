import type { Appointment } from '@medplum/fhirtypes';
import { assertFitsSlot, type BookableSlot, bookingRequestOf } from './booking-request';
import { BookingErrorCode, BookingException } from './booking.exception';

const appointment = (overrides: Partial<Appointment> = {}): Appointment => ({
  resourceType: 'Appointment',
  status: 'booked',
  slot: [{ reference: 'Slot/slot-1' }],
  start: '2026-12-07T09:00:00Z',
  end: '2026-12-07T09:15:00Z',
  participant: [
    { actor: { reference: 'Patient/pat-1' }, status: 'accepted' },
    { actor: { reference: 'Practitioner/prac-1' }, status: 'accepted' },
  ],
  ...overrides,
});

const SLOT: BookableSlot = {
  slotId: 'slot-1',
  practitionerId: 'prac-1',
  serviceCode: '57',
  startAt: new Date('2026-12-07T09:00:00Z'),
  endAt: new Date('2026-12-07T09:15:00Z'),
};

function refusal(work: () => unknown): BookingException {
  try {
    work();
  } catch (error) {
    if (error instanceof BookingException) return error;
    throw error;
  }
  throw new Error('not refused');
}

const withParticipants = (...references: (string | undefined)[]): Partial<Appointment> => ({
  participant: references.map((reference) => ({
    actor: reference === undefined ? undefined : { reference },
    status: 'accepted',
  })),
});

describe('bookingRequestOf', () => {
  it('reads the slot, the patient, the practitioner, the service codes and the times', () => {
    expect(
      bookingRequestOf(appointment({ serviceType: [{ coding: [{ code: '57' }] }] }), ['booked']),
    ).toEqual({
      status: 'booked',
      slotId: 'slot-1',
      patientId: 'pat-1',
      practitionerId: 'prac-1',
      serviceCodes: ['57'],
      start: new Date('2026-12-07T09:00:00Z'),
      end: new Date('2026-12-07T09:15:00Z'),
    });
  });

  it('takes a cancellation where cancellations are allowed, and without times', () => {
    const request = bookingRequestOf(appointment({ status: 'cancelled', start: undefined, end: undefined }), [
      'booked',
      'cancelled',
    ]);
    expect(request).toMatchObject({ status: 'cancelled', slotId: 'slot-1' });
    expect(request.start).toBeUndefined();
  });

  it.each<[string, Partial<Appointment>, BookingErrorCode]>([
    ['status cancelled on create', { status: 'cancelled' }, BookingErrorCode.UnsupportedStatus],
    ['status proposed', { status: 'proposed' }, BookingErrorCode.UnsupportedStatus],
    ['status pending', { status: 'pending' }, BookingErrorCode.UnsupportedStatus],
    ['no slot', { slot: undefined }, BookingErrorCode.SlotRequired],
    [
      'two slots',
      { slot: [{ reference: 'Slot/a' }, { reference: 'Slot/b' }] },
      BookingErrorCode.SlotRequired,
    ],
    [
      'a slot as an absolute URL',
      { slot: [{ reference: 'https://x/fhir/Slot/a' }] },
      BookingErrorCode.SlotRequired,
    ],
    ['a slot by identifier', { slot: [{ identifier: { value: 'a' } }] }, BookingErrorCode.SlotRequired],
    ['no patient', withParticipants('Practitioner/prac-1'), BookingErrorCode.PatientRequired],
    [
      'two patients',
      withParticipants('Patient/a', 'Patient/b', 'Practitioner/p'),
      BookingErrorCode.PatientRequired,
    ],
    [
      'a malformed patient id',
      withParticipants('Patient/a b', 'Practitioner/p'),
      BookingErrorCode.UnsupportedParticipant,
    ],
    ['no practitioner', withParticipants('Patient/pat-1'), BookingErrorCode.PractitionerRequired],
    [
      'two practitioners',
      withParticipants('Patient/a', 'Practitioner/p', 'Practitioner/q'),
      BookingErrorCode.PractitionerRequired,
    ],
    [
      'a Location',
      withParticipants('Patient/a', 'Practitioner/p', 'Location/room'),
      BookingErrorCode.UnsupportedParticipant,
    ],
    [
      'a participant without actor',
      withParticipants('Patient/a', 'Practitioner/p', undefined),
      BookingErrorCode.UnsupportedParticipant,
    ],
    ['an end before the start', { end: '2026-12-07T08:00:00Z' }, BookingErrorCode.InvalidTimes],
    ['an end at the start', { end: '2026-12-07T09:00:00Z' }, BookingErrorCode.InvalidTimes],
  ])('refuses %s with a 400', (_, overrides, code) => {
    const error = refusal(() => bookingRequestOf(appointment(overrides), ['booked']));
    expect(error.code).toBe(code);
    expect(error.status).toBe(400);
  });

  it('refuses statuses beyond booked and cancelled on update', () => {
    const error = refusal(() => bookingRequestOf(appointment({ status: 'noshow' }), ['booked', 'cancelled']));
    expect(error.code).toBe(BookingErrorCode.UnsupportedStatus);
  });
});

describe('assertFitsSlot', () => {
  const request = (overrides: Partial<Appointment> = {}) =>
    bookingRequestOf(appointment(overrides), ['booked']);

  it('accepts the slot’s practitioner, service and times (service types optional)', () => {
    expect(() => assertFitsSlot(request(), SLOT)).not.toThrow();
    expect(() =>
      assertFitsSlot(request({ serviceType: [{ coding: [{ code: '58' }, { code: '57' }] }] }), SLOT),
    ).not.toThrow();
    expect(() => assertFitsSlot(request({ start: '2026-12-07T10:00:00+01:00' }), SLOT)).not.toThrow();
  });

  it.each<[string, Partial<Appointment>, BookingErrorCode]>([
    [
      'another practitioner',
      withParticipants('Patient/pat-1', 'Practitioner/prac-2'),
      BookingErrorCode.PractitionerMismatch,
    ],
    ['another service', { serviceType: [{ coding: [{ code: '58' }] }] }, BookingErrorCode.ServiceMismatch],
    ['another start', { start: '2026-12-07T08:45:00Z' }, BookingErrorCode.TimesMismatch],
    ['another end', { end: '2026-12-07T09:30:00Z' }, BookingErrorCode.TimesMismatch],
  ])('refuses %s with a 422', (_, overrides, code) => {
    const error = refusal(() => assertFitsSlot(request(overrides), SLOT));
    expect(error.code).toBe(code);
    expect(error.status).toBe(422);
  });
});
