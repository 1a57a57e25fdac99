/**
 * The supply chain's decisions, free of I/O: how a reorder becomes exactly one purchase order (ids derived
 * from the reorder id, so every retry names the same order and the same two-phase message), what a manual
 * SupplyRequest must carry, and what a delivery may complete.
 */
import { createHash } from 'node:crypto';
import type { SupplyDelivery, SupplyRequest } from '@medplum/fhirtypes';
import {
  DeliveryShippedPayload,
  MAX_UNITS,
  PHARMACY_EXCHANGE,
  PharmacyEvent,
  PurchaseOrderPlacedPayload,
  StockDeliveredPayload,
  StockLowPayload,
  stockAggregate,
} from '../../contracts/pharmacy-events';
import { SupplyChainException, SupplyChainErrorCode } from './supply-chain.exception';

/** Identifier system of the reorder a purchase order answers (`SupplyRequest.identifier`). */
export const REORDER_SYSTEM = 'urn:hospital:pharmacy:reorder';
/** Identifier system of the supplier's delivery id (`SupplyDelivery.identifier`). */
export const DELIVERY_SYSTEM = 'urn:hospital:pharmacy:delivery';
export const RXNORM_SYSTEM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const UNIT = 'dose units';

const CODE = /^[A-Za-z0-9.-]{1,64}$/;
const LOCATION_REFERENCE = /^Location\/([a-z0-9-]{1,64})$/;

/** Where a reorder came from: inventory's StockLow event, or a purchaser's `POST /fhir/SupplyRequest`. */
export type ReorderOrigin = 'stock-low' | 'manual';

/** A need for stock: one drug, one location, one quantity, named by `reorderId`. */
export interface Reorder {
  reorderId: string;
  origin: ReorderOrigin;
  medicationCode: string;
  locationId: string;
  quantity: number;
}

export type PurchaseOrderStatus = 'placed' | 'completed';

/** The one purchase order of a reorder. */
export interface PurchaseOrder {
  purchaseOrderId: string;
  reorderId: string;
  gtid: string;
  medicationCode: string;
  locationId: string;
  quantity: number;
  status: PurchaseOrderStatus;
  /** Set once the order is completed by a delivery. */
  deliveryId?: string;
}

function digest(kind: string, key: string): string {
  return createHash('sha256').update(`${kind}|${key}`).digest('hex').slice(0, 32);
}

/** The purchase order id of a reorder (also the SupplyRequest id): the same on every attempt. */
export function purchaseOrderIdFor(reorderId: string): string {
  return `po-${digest('purchase-order', reorderId)}`;
}

/**
 * The gtid of a reorder's two-phase message: derived from the reorder id, so a purchasing attempt that
 * resumes after a crash prepares the same message instead of a second one. `generation` moves on only
 * after the message server settled the previous gtid as aborted (a check-back found no local commit),
 * because an aborted gtid can never be prepared again.
 */
export function purchaseOrderGtidFor(reorderId: string, generation = 0): string {
  const base = `pharmacy-po-${digest('purchase-order', reorderId)}`;
  return generation === 0 ? base : `${base}-${generation}`;
}

/** The SupplyDelivery id recording a supplier's delivery. */
export function supplyDeliveryIdFor(deliveryId: string): string {
  return `sd-${digest('delivery', deliveryId)}`;
}

/** The purchase order a reorder gets (in its message attempt `generation`); it starts `placed`. */
export function purchaseOrderFor(reorder: Reorder, generation = 0): PurchaseOrder {
  return {
    purchaseOrderId: purchaseOrderIdFor(reorder.reorderId),
    reorderId: reorder.reorderId,
    gtid: purchaseOrderGtidFor(reorder.reorderId, generation),
    medicationCode: reorder.medicationCode,
    locationId: reorder.locationId,
    quantity: reorder.quantity,
    status: 'placed',
  };
}

export function reorderFromStockLow(event: StockLowPayload): Reorder {
  return {
    reorderId: event.reorderId,
    origin: 'stock-low',
    medicationCode: event.medicationCode,
    locationId: event.locationId,
    quantity: event.reorderQuantity,
  };
}

function sameNeed(a: Reorder, b: Reorder): boolean {
  return a.medicationCode === b.medicationCode && a.locationId === b.locationId && a.quantity === b.quantity;
}

/**
 * A reorder whose id is already recorded (inventory re-sent its StockLow under a new message id, a
 * purchaser retried a manual order) changes nothing; the same id for another drug, location or quantity
 * is refused rather than silently dropped.
 */
export function decideReorder(existing: Reorder | undefined, incoming: Reorder): 'record' | 'duplicate' {
  if (existing === undefined) return 'record';
  if (sameNeed(existing, incoming)) return 'duplicate';
  throw new SupplyChainException(
    SupplyChainErrorCode.ReorderConflict,
    `Reorder ${incoming.reorderId} is already recorded for another drug, location or quantity`,
  );
}

function invalid(message: string, expression: string): SupplyChainException {
  return new SupplyChainException(SupplyChainErrorCode.InvalidPurchaseOrder, message, [expression]);
}

/**
 * The reorder a purchaser's SupplyRequest asks for (already valid FHIR R4): a drug code, a whole number
 * of units and a `Location/<id>` to deliver to. A `REORDER_SYSTEM` identifier names the reorder (a retried
 * request then finds its order instead of placing a second); otherwise `newReorderId` names it.
 */
export function reorderFromSupplyRequest(resource: SupplyRequest, newReorderId: () => string): Reorder {
  if (resource.status !== undefined && resource.status !== 'active') {
    throw invalid('A purchase order is placed as active', 'SupplyRequest.status');
  }
  const codings = resource.itemCodeableConcept?.coding ?? [];
  const coding = codings.find((c) => c.system === RXNORM_SYSTEM) ?? codings[0];
  if (coding?.code === undefined || !CODE.test(coding.code)) {
    throw invalid('A purchase order needs a formulary drug code', 'SupplyRequest.itemCodeableConcept');
  }
  const quantity = resource.quantity?.value;
  if (quantity === undefined || !Number.isInteger(quantity) || quantity < 1 || quantity > MAX_UNITS) {
    throw invalid(
      `A purchase order needs a whole quantity of 1 to ${MAX_UNITS} units`,
      'SupplyRequest.quantity',
    );
  }
  const location = LOCATION_REFERENCE.exec(resource.deliverTo?.reference ?? '');
  if (location === null) {
    throw invalid('A purchase order is delivered to a Location/<id>', 'SupplyRequest.deliverTo');
  }
  const named = (resource.identifier ?? []).filter((i) => i.system === REORDER_SYSTEM);
  if (named.length > 1) throw invalid('At most one reorder identifier', 'SupplyRequest.identifier');
  const reorderId = named[0]?.value;
  if (named.length === 1 && (reorderId === undefined || reorderId.length > 64 || reorderId.length === 0)) {
    throw invalid('The reorder identifier has 1 to 64 characters', 'SupplyRequest.identifier');
  }
  return {
    reorderId: reorderId ?? newReorderId(),
    origin: 'manual',
    medicationCode: coding.code,
    locationId: location[1],
    quantity,
  };
}

/** The FHIR record of a purchase order, `active` until its delivery completes it. */
export function supplyRequestFor(order: PurchaseOrder, authoredOn: Date): SupplyRequest {
  return {
    resourceType: 'SupplyRequest',
    id: order.purchaseOrderId,
    identifier: [{ system: REORDER_SYSTEM, value: order.reorderId }],
    status: order.status === 'completed' ? 'completed' : 'active',
    category: { coding: [{ system: 'http://hl7.org/fhir/supply-kind', code: 'central' }] },
    priority: 'routine',
    itemCodeableConcept: { coding: [{ system: RXNORM_SYSTEM, code: order.medicationCode }] },
    quantity: { value: order.quantity, unit: UNIT },
    authoredOn: authoredOn.toISOString(),
    supplier: [{ display: 'Pharmacy supplier' }],
    deliverTo: { reference: `Location/${order.locationId}` },
  };
}

/** The two-phase message that hands a purchase order to the supplier. */
export function purchaseOrderPlacedMessage(order: PurchaseOrder): {
  gtid: string;
  exchange: string;
  routingKey: string;
  type: string;
  aggregateId: string;
  payload: PurchaseOrderPlacedPayload;
} {
  return {
    gtid: order.gtid,
    exchange: PHARMACY_EXCHANGE,
    routingKey: PharmacyEvent.PurchaseOrderPlaced.routingKey,
    type: PharmacyEvent.PurchaseOrderPlaced.type,
    aggregateId: order.purchaseOrderId,
    payload: {
      purchaseOrderId: order.purchaseOrderId,
      reorderId: order.reorderId,
      medicationCode: order.medicationCode,
      locationId: order.locationId,
      quantity: order.quantity,
    },
  };
}

/**
 * What a DeliveryShipped does to its purchase order: `complete` a placed order with the same drug,
 * location and quantity; `duplicate` when this very delivery already completed it. Anything else can never
 * apply and is refused (dead-lettered with the reason).
 */
export function decideDelivery(
  order: PurchaseOrder | undefined,
  delivery: DeliveryShippedPayload,
): 'complete' | 'duplicate' {
  if (order === undefined) {
    throw new SupplyChainException(
      SupplyChainErrorCode.UnknownPurchaseOrder,
      `Delivery ${delivery.deliveryId} names unknown purchase order ${delivery.purchaseOrderId}`,
    );
  }
  if (
    order.medicationCode !== delivery.medicationCode ||
    order.locationId !== delivery.locationId ||
    order.quantity !== delivery.quantity
  ) {
    throw new SupplyChainException(
      SupplyChainErrorCode.DeliveryMismatch,
      `Delivery ${delivery.deliveryId} does not match purchase order ${order.purchaseOrderId}`,
    );
  }
  if (order.status === 'placed') return 'complete';
  if (order.deliveryId === delivery.deliveryId) return 'duplicate';
  throw new SupplyChainException(
    SupplyChainErrorCode.AlreadyDelivered,
    `Purchase order ${order.purchaseOrderId} was already completed by another delivery`,
  );
}

/** The FHIR record of a received delivery. */
export function supplyDeliveryFor(
  order: PurchaseOrder,
  deliveryId: string,
  receivedAt: Date,
): SupplyDelivery {
  return {
    resourceType: 'SupplyDelivery',
    id: supplyDeliveryIdFor(deliveryId),
    identifier: [{ system: DELIVERY_SYSTEM, value: deliveryId }],
    basedOn: [{ reference: `SupplyRequest/${order.purchaseOrderId}` }],
    status: 'completed',
    type: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/supply-item-type', code: 'medication' }],
    },
    suppliedItem: {
      quantity: { value: order.quantity, unit: UNIT },
      itemCodeableConcept: { coding: [{ system: RXNORM_SYSTEM, code: order.medicationCode }] },
    },
    occurrenceDateTime: receivedAt.toISOString(),
    supplier: { display: 'Pharmacy supplier' },
    destination: { reference: `Location/${order.locationId}` },
  };
}

/** The outbox event that tells inventory the delivered units are on the shelf. */
export function stockDeliveredEvent(
  order: PurchaseOrder,
  deliveryId: string,
): {
  exchange: string;
  routingKey: string;
  type: string;
  aggregateId: string;
  gtid: string;
  payload: StockDeliveredPayload;
} {
  return {
    exchange: PHARMACY_EXCHANGE,
    routingKey: PharmacyEvent.StockDelivered.routingKey,
    type: PharmacyEvent.StockDelivered.type,
    aggregateId: stockAggregate(order.medicationCode, order.locationId),
    gtid: order.gtid,
    payload: {
      deliveryId,
      purchaseOrderId: order.purchaseOrderId,
      reorderId: order.reorderId,
      medicationCode: order.medicationCode,
      locationId: order.locationId,
      quantity: order.quantity,
    },
  };
}
