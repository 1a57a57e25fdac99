import type { NewOutboxEvent } from '../ports/messaging.ports';
import type { CompletedQuotaReservation } from './quota-saga';

/** Where a quota-cached saga's orchestrator publishes its completions (a topic exchange). */
export const QUOTA_COMPLETIONS_EXCHANGE = 'quota-saga.completions';
/** The completion event's type. */
export const QUOTA_COMPLETED_TYPE = 'QuotaReservationsCompleted';

/** Routing key of the completions meant for one participant: its commit-sync consumer binds its own. */
export const quotaCompletedRoutingKey = (participant: string) => `quota.completed.${participant}`;

/** The payload of a QuotaReservationsCompleted event. */
export interface QuotaReservationsCompletedPayload {
  gtid: string;
  reservations: { key: string; resource: string; units: number; epoch: string }[];
}

/**
 * The completion events of a quota-cached saga, for the orchestrator's outbox in its completion
 * transaction: one per participant holding reservations of it, carrying the gtid and each reservation's
 * key (the participant applies each key once). Each has a fixed id (`<gtid>:quota-completed:<participant>`),
 * so a completion appended twice would fail on the outbox's unique id rather than be sent twice.
 */
export function quotaCompletionMessages(
  gtid: string,
  reservations: readonly CompletedQuotaReservation[],
): NewOutboxEvent[] {
  const byParticipant = new Map<string, QuotaReservationsCompletedPayload['reservations']>();
  for (const { participant, key, resource, units, epoch } of reservations) {
    const list = byParticipant.get(participant) ?? [];
    list.push({ key, resource, units, epoch });
    byParticipant.set(participant, list);
  }
  return [...byParticipant].map(([participant, list]) => ({
    id: `${gtid}:quota-completed:${participant}`,
    exchange: QUOTA_COMPLETIONS_EXCHANGE,
    routingKey: quotaCompletedRoutingKey(participant),
    type: QUOTA_COMPLETED_TYPE,
    // One aggregate per saga and participant: each participant's consumer sees a whole sequence (1), never
    // a gap left by the events the others received.
    aggregateId: `${gtid}:${participant}`,
    gtid,
    payload: { gtid, reservations: list } satisfies QuotaReservationsCompletedPayload,
  }));
}
