/**
 * The NEWS2 alert notification contract between an ICU monitor and the central monitoring station it
 * notifies (best-effort notification, `libs/transactions/src/best-effort/`). One notification per alert
 * opened or closed; its idempotency key is the Flag's id and the transition, so a repeated delivery of the
 * same transition is recognised by the station. The payload names ids, the bed, the level and the score:
 * no demographics.
 */

/** The receiver name the monitor gives the station's notifications (reconciliation is asked by it). */
export const NEWS2_ALERT_RECEIVER = 'monitoring-station';
/** The notification type of an alert transition. */
export const NEWS2_ALERT_TYPE = 'news2.alert';

/** The escalation level of a Flag. */
export type News2FlagLevel = 'urgent' | 'emergency';
/** What the station shows: the level an alert opened at, or `resolved` when it closed. */
export type News2AlertLevel = News2FlagLevel | 'resolved';

export const NEWS2_FLAG_LEVELS: readonly News2FlagLevel[] = ['urgent', 'emergency'];
export const NEWS2_ALERT_LEVELS: readonly News2AlertLevel[] = ['urgent', 'emergency', 'resolved'];

export interface News2AlertPayload {
  /** The Flag recording the alert. */
  alertId: string;
  /** `urgent` or `emergency` when the alert opened, `resolved` when it closed. */
  level: News2AlertLevel;
  /** The Flag's own level (for a resolution: which alert was resolved). */
  flagLevel: News2FlagLevel;
  bedId: string;
  patientId: string;
  /** The RiskAssessment the transition follows. */
  assessmentId: string;
  /** The NEWS2 aggregate score at the transition. */
  news2Total: number;
  /** When the alert opened or closed: the time of the newest reading scored (ISO 8601). */
  effectiveAt: string;
}

/** The idempotency key of an alert transition: the Flag id and what happened to it. */
export function news2AlertKey(alertId: string, transition: 'opened' | 'closed'): string {
  return `${alertId}:${transition}`;
}
