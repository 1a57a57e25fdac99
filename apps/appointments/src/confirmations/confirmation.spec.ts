import type { BookingEvent } from '../booking/booking-notifier';
import { appointmentsConfig } from '../config';
import {
  addressOf,
  confirmationKey,
  confirmationsOf,
  confirmationText,
  type ConfirmationPayload,
} from './confirmation';
import { messageIdOf, smtpResultOf } from './email.channel';

const event: BookingEvent = {
  kind: 'booked',
  appointmentId: 'appt-1',
  versionId: '1',
  slotId: 'slot-1',
  patientId: 'pat-1',
  practitionerId: 'prac-1',
  start: '2026-12-07T09:00:00.000Z',
  end: '2026-12-07T09:15:00.000Z',
};

describe('confirmations of a booking change', () => {
  it('are one per recipient and configured channel, keyed <id>:<event>:<version>:<recipient>:<channel>', () => {
    const made = confirmationsOf(event, { clinician: ['email'], patient: ['email', 'sms'] });
    expect(made.map((n) => [n.receiver, n.channel, n.idempotencyKey, n.type])).toEqual([
      ['Practitioner/prac-1', 'email', 'appt-1:booked:1:clinician:email', 'appointment.booked'],
      ['Patient/pat-1', 'email', 'appt-1:booked:1:patient:email', 'appointment.booked'],
      ['Patient/pat-1', 'sms', 'appt-1:booked:1:patient:sms', 'appointment.booked'],
    ]);
    expect(confirmationsOf(event, { clinician: [], patient: [] })).toEqual([]);
    expect(confirmationKey({ ...event, kind: 'cancelled', versionId: '2' }, 'patient', 'push')).toBe(
      'appt-1:cancelled:2:patient:push',
    );
  });

  it('go to addresses derived from the ids alone, the same every time', () => {
    expect(addressOf('patient', 'Pat-1', 'email')).toBe('pat-1@patients.hospital.test');
    expect(addressOf('clinician', 'prac-1', 'email')).toBe('prac-1@practitioners.hospital.test');
    expect(addressOf('patient', 'pat-1', 'sms')).toMatch(/^\+999\d{10}$/);
    expect(addressOf('patient', 'pat-1', 'sms')).toBe(addressOf('patient', 'pat-1', 'sms'));
    expect(addressOf('patient', 'pat-1', 'sms')).not.toBe(addressOf('patient', 'pat-2', 'sms'));
    expect(addressOf('patient', 'pat-1', 'push')).toBe('device:patient/pat-1');
  });

  it('read the time, the practitioner and the reference; the patient is named to the clinician by id', () => {
    const [toClinician, toPatient] = confirmationsOf(event, { clinician: ['email'], patient: ['email'] });
    const patientText = confirmationText(toPatient.payload as ConfirmationPayload);
    expect(patientText.subject).toBe('Appointment appt-1 is booked');
    expect(patientText.text).toContain('2026-12-07 09:00–09:15 UTC, with Practitioner/prac-1');
    expect(patientText.text).not.toContain('pat-1');
    expect(confirmationText(toClinician.payload as ConfirmationPayload).text).toContain('Patient/pat-1');
  });
});

describe('delivery outcomes', () => {
  it('SMTP: 5xx permanent; 4xx, refused and timed out retryable', () => {
    expect(smtpResultOf(Object.assign(new Error('No such user'), { responseCode: 550 })).kind).toBe(
      'permanent',
    );
    expect(smtpResultOf(Object.assign(new Error('Try later'), { responseCode: 451 })).kind).toBe('retryable');
    expect(smtpResultOf(Object.assign(new Error('refused'), { code: 'ESOCKET' })).kind).toBe('retryable');
    expect(smtpResultOf(Object.assign(new Error('slow'), { code: 'ETIMEDOUT' }))).toEqual({
      kind: 'retryable',
      reason: 'ETIMEDOUT slow',
    });
  });

  it('the Message-ID carries the idempotency key', () => {
    expect(messageIdOf('appt-1:booked:1:patient:email')).toBe(
      '<appt-1/booked/1/patient/email@appointments.hospital.test>',
    );
  });
});

const SECRET = { SERVICE_KEY_SEED: 'a-secret-of-the-platform-services-32+chars' };

describe('confirmation settings', () => {
  it('take comma-separated channels, or none, and refuse unknown ones', () => {
    const config = appointmentsConfig({
      ...SECRET,
      CONFIRM_CLINICIAN_CHANNELS: 'none',
      CONFIRM_PATIENT_CHANNELS: 'sms, push',
    });
    expect(config.env.CONFIRM_CLINICIAN_CHANNELS).toEqual([]);
    expect(config.env.CONFIRM_PATIENT_CHANNELS).toEqual(['sms', 'push']);
    expect(() => appointmentsConfig({ ...SECRET, CONFIRM_PATIENT_CHANNELS: 'email,fax' })).toThrow(
      /CONFIRM_PATIENT_CHANNELS/,
    );
    expect(() => appointmentsConfig({ ...SECRET, CONFIRM_PATIENT_CHANNELS: 'sms,sms' })).toThrow(
      /CONFIRM_PATIENT_CHANNELS/,
    );
  });
});
