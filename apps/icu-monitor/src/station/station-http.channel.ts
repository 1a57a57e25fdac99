import { Inject, Injectable } from '@nestjs/common';
import {
  environmentOf,
  SERVICE_CONFIG,
  serviceCredentials,
  type ServiceConfig,
  type ServiceCredentials,
} from '@hospital/platform';
import {
  BestEffortEnvironment,
  callPeer,
  httpDeliveryResult,
  type DeliveryResult,
  type Notification,
  type NotificationChannel,
} from '@hospital/transactions';

/** The channel name of the station's notifications. */
export const STATION_CHANNEL = 'station-http';
/** The station's service name: its URL is the `ICU_STATION_URL` peer, its tokens' audience. */
export const STATION_SERVICE = 'icu-station';

/**
 * Delivers alert notifications to the station's `POST /internal/alerts` over undici (the platform's peer
 * pools), with this service's token for the station and the notification's `Idempotency-Key`: 2xx is
 * delivered; 5xx, 429, a refused connection or a time-out are retried; any other 4xx is permanent (the
 * station will never take it: dead-lettered for an operator).
 */
@Injectable()
export class StationHttpChannel implements NotificationChannel {
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly credentials: ServiceCredentials;

  constructor(@Inject(SERVICE_CONFIG) config: ServiceConfig) {
    const base = config.peers[STATION_SERVICE];
    this.url = new URL('/internal/alerts', base).toString();
    this.timeoutMs = environmentOf(config, BestEffortEnvironment).NOTIFICATION_ATTEMPT_TIMEOUT_MS;
    this.credentials = serviceCredentials(config);
  }

  async deliver(notification: Notification): Promise<DeliveryResult> {
    try {
      await callPeer(this.url, notification.gtid, {
        method: 'POST',
        body: notification.payload,
        timeoutMs: this.timeoutMs,
        headers: {
          authorization: this.credentials.authorization(STATION_SERVICE),
          'idempotency-key': notification.idempotencyKey,
        },
      });
      return { kind: 'delivered' };
    } catch (error) {
      return httpDeliveryResult(error);
    }
  }
}
