import type { NewOutboxEvent } from '@hospital/transactions';
import type { QuotaReservation } from './plan-ports';
import type { Participant } from './treatment-plan';

/** The topic exchange care-plans publishes its events to. */
export const CARE_PLANS_EXCHANGE = 'care-plans.events';
/** A quota-cached saga completed: the participant applies its reservations to its main database, once. */
export const QUOTA_COMPLETED_TYPE = 'QuotaReservationsCompleted';

/** `quota.completed.<participant>`: each participant's commit-sync consumer binds its own. */
export function quotaCompletedRoutingKey(participant: Participant): string {
  return `quota.completed.${participant}`;
}

/** The payload of a QuotaReservationsCompleted message (the capacity contract). */
export interface QuotaReservationsCompletedPayload {
  gtid: string;
  reservations: QuotaReservation[];
}

/**
 * The completion messages of a quota-cached saga: one per participant that holds reservations of it, each
 * carrying the gtid (its aggregate: the consumers de-duplicate and order by it) and every reservation of
 * that participant. Each has a fixed id (`<gtid>:quota-completed:<participant>`), so an activation that
 * were ever appended twice would fail on the outbox's unique id instead of sending it twice.
 */
export function completionEvents(
  gtid: string,
  reservations: ReadonlyMap<Participant, readonly QuotaReservation[]>,
): NewOutboxEvent[] {
  return [...reservations].flatMap(([participant, list]) => {
    if (list.length === 0) return [];
    const payload: QuotaReservationsCompletedPayload = { gtid, reservations: [...list] };
    return [
      {
        id: `${gtid}:quota-completed:${participant}`,
        exchange: CARE_PLANS_EXCHANGE,
        routingKey: quotaCompletedRoutingKey(participant),
        type: QUOTA_COMPLETED_TYPE,
        aggregateId: gtid,
        gtid,
        payload,
      },
    ];
  });
}

const isWhole = (value: unknown, min: number): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= min;

/**
 * The reservations a quota step logged as its result (`{ reservations: [...] }`, JSON from the saga log).
 * Throws on anything else: the log holds what this service wrote, so a mismatch is a bug, never input.
 */
export function loggedReservations(result: unknown, step: string): QuotaReservation[] {
  const list = (result as { reservations?: unknown } | null | undefined)?.reservations;
  if (!Array.isArray(list)) throw new Error(`step ${step} logged no reservations`);
  return list.map((item: unknown) => {
    const r = item as Partial<QuotaReservation> | null;
    if (
      r === null ||
      typeof r.key !== 'string' ||
      typeof r.resource !== 'string' ||
      !isWhole(r.units, 1) ||
      !isWhole(r.epoch, 0)
    )
      throw new Error(`step ${step} logged a malformed reservation`);
    return { key: r.key, resource: r.resource, units: r.units, epoch: r.epoch };
  });
}
