import type { ServiceRequest } from '@medplum/fhirtypes';
import { FhirResourceStore, FhirValidator, ORDER_CATEGORY, parseRecordSyncPayload } from '@hospital/fhir';
import type { Session } from '@hospital/platform';
import { BranchWork, NewOutboxEvent, Outbox } from '@hospital/transactions';
import { LAB_ORDER_PLACED, LAB_ORDERS_EXCHANGE, LabOrderPlacedPayload } from './lab-order.event';

/** Whether an order is a laboratory one (the EMR routes by the same SNOMED CT category). */
export function isLabOrder(order: ServiceRequest): boolean {
  const { system, code } = ORDER_CATEGORY.laboratory;
  return (order.category ?? []).some((c) =>
    (c.coding ?? []).some((k) => k.system === system && k.code === code),
  );
}

/**
 * The outbox event that sends one new order to the analyzer. Its aggregate is the analyzer order, not the
 * ServiceRequest: the order's result event (`ServiceRequest/<id>`, the contract's) must be sequence 1 of its
 * aggregate, or the EMR's inbox waits for a predecessor that never comes to it.
 */
export function labOrderPlaced(serviceRequestId: string, gtid: string): NewOutboxEvent {
  const payload: LabOrderPlacedPayload = { serviceRequestId };
  return {
    exchange: LAB_ORDERS_EXCHANGE,
    routingKey: 'analyzer',
    type: LAB_ORDER_PLACED,
    aggregateId: `AnalyzerOrder/${serviceRequestId}`,
    payload,
    gtid,
  };
}

/**
 * The LIS's step in the EMR's record update: keeps the copies of the patient and the orders (as every
 * department does) and, in the same branch transaction, appends an order event for each laboratory order
 * it did not hold before. The event commits with the branch (COMMIT PREPARED) or not at all; an order the
 * EMR sends again is kept up to date but never goes to the analyzer twice.
 */
export function labOrderBranch(
  store: FhirResourceStore,
  validator: FhirValidator,
  outbox: Outbox,
): BranchWork<Session> {
  return async (tx, payload, gtid) => {
    const parsed = parseRecordSyncPayload(validator, payload);
    const written = await store.upsertCopies(tx, [parsed.patient, ...parsed.serviceRequests]);
    const fresh = parsed.serviceRequests.filter(
      (order, i) => written[i + 1]?.created === true && isLabOrder(order) && order.id !== undefined,
    );
    await outbox.append(
      tx,
      fresh.map((order) => labOrderPlaced(order.id as string, gtid)),
    );
  };
}

/** Nest provider recipe: `{ provide: BRANCH_WORK, ...labOrderBranchProvider }`. */
export const labOrderBranchProvider = {
  inject: [FhirResourceStore, FhirValidator, Outbox],
  useFactory: labOrderBranch,
};
