import { createHash } from 'node:crypto';
import type { NewNotification } from '@hospital/transactions';
import type { BookingEvent } from '../booking/booking-notifier';
import type { ConfirmationChannel } from './confirmations.environment';

/** Who is told of a booking change. */
export type ConfirmationRecipient = 'clinician' | 'patient';

/** The notification types receivers route on. */
export const CONFIRMATION_TYPES: Record<BookingEvent['kind'], string> = {
  booked: 'appointment.booked',
  cancelled: 'appointment.cancelled',
  rescheduled: 'appointment.rescheduled',
};

/**
 * What a confirmation carries: ids, times and the booking reference, never demographics. The address is
 * the channel's (an e-mail address, a phone number, a device), derived from the recipient's id.
 */
export interface ConfirmationPayload {
  event: BookingEvent['kind'];
  recipient: ConfirmationRecipient;
  address: string;
  /** The booking reference the recipient quotes: the Appointment id. */
  reference: string;
  appointmentId: string;
  versionId: string;
  practitionerId: string;
  patientId: string;
  slotId: string;
  previousSlotId?: string;
  start: string;
  end: string;
}

/** The idempotency key of one confirmation: `<appointmentId>:<event>:<version>:<recipient>:<channel>`. */
export function confirmationKey(
  event: Pick<BookingEvent, 'appointmentId' | 'kind' | 'versionId'>,
  recipient: ConfirmationRecipient,
  channel: ConfirmationChannel,
): string {
  return `${event.appointmentId}:${event.kind}:${event.versionId}:${recipient}:${channel}`;
}

/** The FHIR reference of the recipient, which reconciliation is asked by (`?receiver=Patient/<id>`). */
export function receiverOf(event: BookingEvent, recipient: ConfirmationRecipient): string {
  return recipient === 'patient' ? `Patient/${event.patientId}` : `Practitioner/${event.practitionerId}`;
}

/**
 * A deterministic address for the recipient on a channel, from the id alone. A stand-in: the real contact
 * details (e-mail, mobile number, device registration) are the EMR's, looked up by a later change.
 */
export function addressOf(
  recipient: ConfirmationRecipient,
  id: string,
  channel: ConfirmationChannel,
): string {
  const domain = recipient === 'patient' ? 'patients.hospital.test' : 'practitioners.hospital.test';
  switch (channel) {
    case 'email':
      return `${id.toLowerCase()}@${domain}`;
    case 'sms': {
      // +999 (no country) and ten digits from the id's hash: stable, never a real subscriber's number.
      const digits = BigInt(
        `0x${createHash('sha256').update(`${recipient}/${id}`).digest('hex').slice(0, 15)}`,
      );
      return `+999${(digits % 10_000_000_000n).toString().padStart(10, '0')}`;
    }
    case 'push':
      return `device:${recipient}/${id}`;
  }
}

/** The notifications of one booking change: one per recipient and channel configured for it. */
export function confirmationsOf(
  event: BookingEvent,
  channels: Record<ConfirmationRecipient, readonly ConfirmationChannel[]>,
): NewNotification[] {
  const notifications: NewNotification[] = [];
  for (const recipient of ['clinician', 'patient'] as const) {
    const id = recipient === 'patient' ? event.patientId : event.practitionerId;
    for (const channel of channels[recipient]) {
      const payload: ConfirmationPayload = {
        event: event.kind,
        recipient,
        address: addressOf(recipient, id, channel),
        reference: event.appointmentId,
        appointmentId: event.appointmentId,
        versionId: event.versionId,
        practitionerId: event.practitionerId,
        patientId: event.patientId,
        slotId: event.slotId,
        ...(event.previousSlotId === undefined ? {} : { previousSlotId: event.previousSlotId }),
        start: event.start,
        end: event.end,
      };
      notifications.push({
        receiver: receiverOf(event, recipient),
        channel,
        type: CONFIRMATION_TYPES[event.kind],
        payload,
        idempotencyKey: confirmationKey(event, recipient, channel),
      });
    }
  }
  return notifications;
}

const WHAT: Record<BookingEvent['kind'], string> = {
  booked: 'is booked',
  cancelled: 'is cancelled',
  rescheduled: 'has moved',
};

/** The short text of a confirmation (e-mail body, SMS, push): times, practitioner and reference only. */
export function confirmationText(payload: ConfirmationPayload): { subject: string; text: string } {
  const when = `${payload.start.replace('T', ' ').slice(0, 16)}–${payload.end.slice(11, 16)} UTC`;
  const subject = `Appointment ${payload.reference} ${WHAT[payload.event]}`;
  const lines = [
    `Booking reference: ${payload.reference}`,
    `Appointment ${WHAT[payload.event]}: ${when}, with Practitioner/${payload.practitionerId}.`,
    ...(payload.recipient === 'clinician' ? [`Patient: Patient/${payload.patientId}`] : []),
    ...(payload.event === 'cancelled' ? ['The slot is free again.'] : []),
    `Slot: Slot/${payload.slotId}`,
  ];
  return { subject, text: `${lines.join('\n')}\n` };
}
