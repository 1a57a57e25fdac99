import { Inject, Injectable } from '@nestjs/common';
import { environmentOf, SERVICE_CONFIG, type ServiceConfig } from '@hospital/platform';
import {
  BestEffortEnvironment,
  callPeer,
  httpDeliveryResult,
  type DeliveryResult,
  type Notification,
  type NotificationChannel,
} from '@hospital/transactions';
import { confirmationText, type ConfirmationPayload } from './confirmation';
import { ConfirmationsEnvironment } from './confirmations.environment';

/** The channel names of SMS and push confirmations. */
export const SMS_CHANNEL = 'sms';
export const PUSH_CHANNEL = 'push';

/** What a gateway is sent: the address, the short text and the ids, never demographics. */
export interface GatewayMessage {
  to: string;
  title: string;
  text: string;
  type: string;
  reference: string;
}

/**
 * A confirmation gateway over HTTP (undici, the platform's peer pools): POSTs the message as JSON with the
 * notification's `Idempotency-Key`. 2xx is delivered; 5xx, 429, refused or timed out retried; any other
 * 4xx permanent (the gateway will never take it).
 */
abstract class GatewayChannel implements NotificationChannel {
  private readonly timeoutMs: number;

  constructor(
    private readonly url: string,
    config: ServiceConfig,
  ) {
    this.timeoutMs = environmentOf(config, BestEffortEnvironment).NOTIFICATION_ATTEMPT_TIMEOUT_MS;
  }

  async deliver(notification: Notification): Promise<DeliveryResult> {
    const payload = notification.payload as ConfirmationPayload;
    const { subject, text } = confirmationText(payload);
    const message: GatewayMessage = {
      to: payload.address,
      title: subject,
      text,
      type: notification.type,
      reference: payload.reference,
    };
    try {
      await callPeer(this.url, notification.gtid, {
        method: 'POST',
        body: message,
        timeoutMs: this.timeoutMs,
        headers: { 'idempotency-key': notification.idempotencyKey },
      });
      return { kind: 'delivered' };
    } catch (error) {
      return httpDeliveryResult(error);
    }
  }
}

/** SMS confirmations, to `SMS_GATEWAY_URL`. */
@Injectable()
export class SmsGatewayChannel extends GatewayChannel {
  constructor(@Inject(SERVICE_CONFIG) config: ServiceConfig) {
    super(environmentOf(config, ConfirmationsEnvironment).SMS_GATEWAY_URL, config);
  }
}

/** Push confirmations, to `PUSH_GATEWAY_URL`. */
@Injectable()
export class PushGatewayChannel extends GatewayChannel {
  constructor(@Inject(SERVICE_CONFIG) config: ServiceConfig) {
    super(environmentOf(config, ConfirmationsEnvironment).PUSH_GATEWAY_URL, config);
  }
}
