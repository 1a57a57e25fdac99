import { Injectable } from '@nestjs/common';
import type { Session } from '@hospital/platform';
import type { AlertLevel } from './news2-assessment';

/** An alert opened or closed, as the central monitoring station will be told. */
export interface AlertRecorded {
  /** The Flag that records the alert: its id is the notification's idempotency key with `transition`. */
  flagId: string;
  level: AlertLevel;
  transition: 'opened' | 'closed';
  patientId: string;
  bedId: string;
  /** The RiskAssessment the transition follows. */
  assessmentId: string;
  /** The NEWS2 aggregate at the transition. */
  news2Total: number;
  /** When the alert opened or closed (the time of the newest reading scored). */
  at: string;
}

/**
 * The seam where alerts leave for the central monitoring station. Called inside the vital's local
 * transaction, once per vital that opened or closed alerts, so that a notifier writing a notification log
 * commits it together with the Flags — or not at all.
 */
export abstract class AlertNotifier {
  abstract notify(tx: Session, alerts: readonly AlertRecorded[]): Promise<void>;

  /** Called after the transaction that notified alerts committed (wakes a dispatcher, say). */
  abstract committed(): void;
}

/**
 * A monitor without a station: nothing leaves, the Flags are the record (searchable at /fhir/Flag). The
 * service itself uses `StationAlertNotifier` (`../station/`); this one serves specs of the scoring alone.
 */
@Injectable()
export class NoStationAlertNotifier extends AlertNotifier {
  notify(): Promise<void> {
    return Promise.resolve();
  }

  committed(): void {
    // Nothing was written, so nothing to wake.
  }
}
