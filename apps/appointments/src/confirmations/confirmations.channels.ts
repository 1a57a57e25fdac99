import type { NotificationChannelDefinition } from '@hospital/transactions';
import { EMAIL_CHANNEL, EmailChannel } from './email.channel';
import { PUSH_CHANNEL, PushGatewayChannel, SMS_CHANNEL, SmsGatewayChannel } from './gateway.channel';

/**
 * The confirmation channels, one best-effort dispatcher each (its own claims, back-off and dead letters):
 * an SMTP server that is down holds back only the e-mails.
 */
export const CONFIRMATION_CHANNEL_DEFINITIONS: NotificationChannelDefinition[] = [
  { name: EMAIL_CHANNEL, channel: EmailChannel },
  { name: SMS_CHANNEL, channel: SmsGatewayChannel },
  { name: PUSH_CHANNEL, channel: PushGatewayChannel },
];
