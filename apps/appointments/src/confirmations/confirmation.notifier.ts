import { Inject, Injectable } from '@nestjs/common';
import { environmentOf, SERVICE_CONFIG, type ServiceConfig, type Session } from '@hospital/platform';
import { Notifications } from '@hospital/transactions';
import { BookingNotifier, type BookingEvent } from '../booking/booking-notifier';
import { confirmationsOf, type ConfirmationRecipient } from './confirmation';
import { ConfirmationsEnvironment, type ConfirmationChannel } from './confirmations.environment';

/**
 * Confirms each booking, cancellation and rescheduling to the clinician and the patient by best-effort
 * notification: one notification per recipient and configured channel, appended in the booking's own
 * transaction (it exists if and only if the change committed; a refused booking leaves none), keyed
 * `<appointmentId>:<event>:<version>:<recipient>:<channel>`, and delivered after the commit by that
 * channel's dispatcher — so a mail server that is down delays only the e-mails, never the booking.
 */
@Injectable()
export class ConfirmationNotifier extends BookingNotifier {
  private readonly channels: Record<ConfirmationRecipient, readonly ConfirmationChannel[]>;

  constructor(
    @Inject(Notifications) private readonly notifications: Notifications,
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
  ) {
    super();
    const env = environmentOf(config, ConfirmationsEnvironment);
    this.channels = { clinician: env.CONFIRM_CLINICIAN_CHANNELS, patient: env.CONFIRM_PATIENT_CHANNELS };
  }

  async notify(tx: Session, event: BookingEvent): Promise<void> {
    const confirmations = confirmationsOf(event, this.channels);
    if (confirmations.length > 0) await this.notifications.append(tx, confirmations);
  }

  committed(): void {
    this.notifications.notify();
  }
}
