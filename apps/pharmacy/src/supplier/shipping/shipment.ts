/**
 * The simulated supplier's decisions, free of I/O: when a purchase order ships, under which delivery id,
 * and what a repeated purchase order means.
 */
import { createHash } from 'node:crypto';
import {
  DeliveryShippedPayload,
  PHARMACY_EXCHANGE,
  PharmacyEvent,
  PurchaseOrderPlacedPayload,
} from '../../contracts/pharmacy-events';
import { SupplierErrorCode, SupplierException } from './supplier.exception';

/** A purchase order as the supplier booked it. */
export interface SupplierOrder {
  purchaseOrderId: string;
  reorderId: string;
  medicationCode: string;
  locationId: string;
  quantity: number;
}

export function supplierOrderOf(payload: PurchaseOrderPlacedPayload): SupplierOrder {
  return {
    purchaseOrderId: payload.purchaseOrderId,
    reorderId: payload.reorderId,
    medicationCode: payload.medicationCode,
    locationId: payload.locationId,
    quantity: payload.quantity,
  };
}

/** The delivery id of a purchase order's shipment: one per order, the same however often it is computed. */
export function deliveryIdFor(purchaseOrderId: string): string {
  return `dl-${createHash('sha256').update(`delivery|${purchaseOrderId}`).digest('hex').slice(0, 32)}`;
}

/** When a purchase order received at `receivedAt` ships. */
export function shipDueAt(receivedAt: Date, delayMs: number): Date {
  return new Date(receivedAt.getTime() + delayMs);
}

/**
 * What a PurchaseOrderPlaced does: `book` a new order; `repeat` when the order is already booked with the
 * same contents (sent twice under another message id: counted, never shipped twice). The same id with other
 * contents is refused.
 */
export function decideReceipt(
  existing: SupplierOrder | undefined,
  incoming: SupplierOrder,
): 'book' | 'repeat' {
  if (existing === undefined) return 'book';
  if (
    existing.reorderId === incoming.reorderId &&
    existing.medicationCode === incoming.medicationCode &&
    existing.locationId === incoming.locationId &&
    existing.quantity === incoming.quantity
  ) {
    return 'repeat';
  }
  throw new SupplierException(
    SupplierErrorCode.PurchaseOrderConflict,
    `Purchase order ${incoming.purchaseOrderId} arrived again with other contents`,
  );
}

/** The outbox event announcing a shipment; its message id is the delivery id. */
export function deliveryShippedEvent(
  order: SupplierOrder,
  gtid: string,
): {
  id: string;
  exchange: string;
  routingKey: string;
  type: string;
  aggregateId: string;
  gtid: string;
  payload: DeliveryShippedPayload;
} {
  const deliveryId = deliveryIdFor(order.purchaseOrderId);
  return {
    id: deliveryId,
    exchange: PHARMACY_EXCHANGE,
    routingKey: PharmacyEvent.DeliveryShipped.routingKey,
    type: PharmacyEvent.DeliveryShipped.type,
    aggregateId: order.purchaseOrderId,
    gtid,
    payload: {
      deliveryId,
      purchaseOrderId: order.purchaseOrderId,
      medicationCode: order.medicationCode,
      locationId: order.locationId,
      quantity: order.quantity,
    },
  };
}
