import { Inject, Injectable } from '@nestjs/common';
import {
  NEWS2_ALERT_RECEIVER,
  NEWS2_ALERT_TYPE,
  news2AlertKey,
  type News2AlertPayload,
} from '@hospital/fhir';
import type { Session } from '@hospital/platform';
import { Notifications } from '@hospital/transactions';
import { AlertNotifier, type AlertRecorded } from '../vitals/alert-notifier';
import { STATION_CHANNEL } from './station-http.channel';

/** What the station is told of an alert transition: ids, bed, level and score, no demographics. */
export function stationPayloadOf(alert: AlertRecorded): News2AlertPayload {
  return {
    alertId: alert.flagId,
    level: alert.transition === 'opened' ? alert.level : 'resolved',
    flagLevel: alert.level,
    bedId: alert.bedId,
    patientId: alert.patientId,
    assessmentId: alert.assessmentId,
    news2Total: alert.news2Total,
    effectiveAt: alert.at,
  };
}

/**
 * Tells the central monitoring station of each alert opened or closed by best-effort notification: one
 * notification per transition, appended to the notification log in the vital's own transaction (so it
 * exists if and only if the Flag change committed), keyed by the Flag id and the transition (a repeated
 * delivery is dropped by the station), and delivered by the `station-http` dispatcher after the commit.
 * The vital never waits for the station.
 */
@Injectable()
export class StationAlertNotifier extends AlertNotifier {
  constructor(@Inject(Notifications) private readonly notifications: Notifications) {
    super();
  }

  async notify(tx: Session, alerts: readonly AlertRecorded[]): Promise<void> {
    await this.notifications.append(
      tx,
      alerts.map((alert) => ({
        receiver: NEWS2_ALERT_RECEIVER,
        channel: STATION_CHANNEL,
        type: NEWS2_ALERT_TYPE,
        payload: stationPayloadOf(alert),
        idempotencyKey: news2AlertKey(alert.flagId, alert.transition),
      })),
    );
  }

  committed(): void {
    this.notifications.notify();
  }
}
