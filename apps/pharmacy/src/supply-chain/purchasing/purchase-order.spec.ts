import type { SupplyRequest } from '@medplum/fhirtypes';
import { FhirValidator, isValidFhirId } from '@hospital/fhir';
import { isValidGtid } from '@hospital/transactions';
import { PHARMACY_EXCHANGE, PharmacyEvent, stockAggregate } from '../../contracts/pharmacy-events';
import {
  decideDelivery,
  decideReorder,
  purchaseOrderFor,
  purchaseOrderGtidFor,
  purchaseOrderIdFor,
  purchaseOrderPlacedMessage,
  Reorder,
  REORDER_SYSTEM,
  reorderFromStockLow,
  reorderFromSupplyRequest,
  RXNORM_SYSTEM,
  stockDeliveredEvent,
  supplyDeliveryFor,
  supplyRequestFor,
} from './purchase-order';
import { SupplyChainException, SupplyChainErrorCode } from './supply-chain.exception';

const reorder: Reorder = {
  reorderId: 'rx-313782@ward-3a#7',
  origin: 'stock-low',
  medicationCode: '313782',
  locationId: 'ward-3a',
  quantity: 200,
};

function codeOf(work: () => unknown): SupplyChainErrorCode | undefined {
  try {
    work();
  } catch (error) {
    if (error instanceof SupplyChainException) return error.code;
    throw error;
  }
  return undefined;
}

describe('purchase order ids', () => {
  it('derives the same purchase order id and gtid from a reorder id on every attempt', () => {
    expect(purchaseOrderIdFor(reorder.reorderId)).toBe(purchaseOrderIdFor(reorder.reorderId));
    expect(purchaseOrderGtidFor(reorder.reorderId)).toBe(purchaseOrderGtidFor(reorder.reorderId, 0));
    expect(purchaseOrderIdFor('a')).not.toBe(purchaseOrderIdFor('b'));
  });

  it('gives each message generation its own gtid, but keeps the purchase order id', () => {
    const first = purchaseOrderFor(reorder, 0);
    const second = purchaseOrderFor(reorder, 1);
    expect(second.gtid).not.toBe(first.gtid);
    expect(second.purchaseOrderId).toBe(first.purchaseOrderId);
  });

  it('makes valid FHIR ids and gtids from any reorder id of up to 64 characters', () => {
    for (const id of ['x', 'é/ü?#&'.repeat(10), 'z'.repeat(64)]) {
      expect(isValidFhirId(purchaseOrderIdFor(id))).toBe(true);
      expect(isValidGtid(purchaseOrderGtidFor(id, 0))).toBe(true);
      expect(isValidGtid(purchaseOrderGtidFor(id, 99_999))).toBe(true);
    }
  });
});

describe('decideReorder', () => {
  it('records a new reorder and ignores the same one again', () => {
    expect(decideReorder(undefined, reorder)).toBe('record');
    expect(decideReorder(reorder, { ...reorder, origin: 'manual' })).toBe('duplicate');
  });

  it('refuses a reorder id reused for another drug, location or quantity', () => {
    for (const change of [{ medicationCode: '1' }, { locationId: 'ward-9' }, { quantity: 1 }]) {
      expect(codeOf(() => decideReorder(reorder, { ...reorder, ...change }))).toBe(
        SupplyChainErrorCode.ReorderConflict,
      );
    }
  });

  it('takes the reorder quantity of a StockLow', () => {
    const recorded = reorderFromStockLow({
      reorderId: 'r1',
      medicationCode: '313782',
      locationId: 'ward-3a',
      onHand: 3,
      reorderPoint: 10,
      reorderQuantity: 50,
    });
    expect(recorded).toEqual({
      reorderId: 'r1',
      origin: 'stock-low',
      medicationCode: '313782',
      locationId: 'ward-3a',
      quantity: 50,
    });
  });
});

describe('reorderFromSupplyRequest', () => {
  const manual: SupplyRequest = {
    resourceType: 'SupplyRequest',
    status: 'active',
    itemCodeableConcept: { coding: [{ system: RXNORM_SYSTEM, code: '313782' }] },
    quantity: { value: 40 },
    deliverTo: { reference: 'Location/main-pharmacy' },
  };

  it('reads drug, quantity and location, naming the reorder when the request does not', () => {
    expect(reorderFromSupplyRequest(manual, () => 'manual-1')).toEqual({
      reorderId: 'manual-1',
      origin: 'manual',
      medicationCode: '313782',
      locationId: 'main-pharmacy',
      quantity: 40,
    });
  });

  it('uses a reorder identifier as the reorder id, so a retried request finds its order', () => {
    const named = { ...manual, identifier: [{ system: REORDER_SYSTEM, value: 'po-request-9' }] };
    expect(reorderFromSupplyRequest(named, () => 'unused').reorderId).toBe('po-request-9');
  });

  it.each([
    ['a draft', { status: 'draft' as const }, 'SupplyRequest.status'],
    ['no drug code', { itemCodeableConcept: { text: 'paracetamol' } }, 'SupplyRequest.itemCodeableConcept'],
    [
      'a bad drug code',
      { itemCodeableConcept: { coding: [{ code: 'a b' }] } },
      'SupplyRequest.itemCodeableConcept',
    ],
    ['a fractional quantity', { quantity: { value: 1.5 } }, 'SupplyRequest.quantity'],
    ['a zero quantity', { quantity: { value: 0 } }, 'SupplyRequest.quantity'],
    ['too large a quantity', { quantity: { value: 10_001 } }, 'SupplyRequest.quantity'],
    ['no location', { deliverTo: { reference: 'Organization/x' } }, 'SupplyRequest.deliverTo'],
    [
      'two reorder identifiers',
      { identifier: [1, 2].map((n) => ({ system: REORDER_SYSTEM, value: `r${n}` })) },
      'SupplyRequest.identifier',
    ],
  ])('refuses %s', (_what, change, expression) => {
    try {
      reorderFromSupplyRequest({ ...manual, ...change }, () => 'x');
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(SupplyChainException);
      expect((error as SupplyChainException).code).toBe(SupplyChainErrorCode.InvalidPurchaseOrder);
      expect((error as SupplyChainException).expression).toEqual([expression]);
    }
  });
});

describe('messages and FHIR records of a purchase order', () => {
  const order = purchaseOrderFor(reorder);
  const validator = new FhirValidator();

  it('sends the purchase order as PurchaseOrderPlaced under its gtid', () => {
    const message = purchaseOrderPlacedMessage(order);
    expect(message).toMatchObject({
      gtid: order.gtid,
      exchange: PHARMACY_EXCHANGE,
      routingKey: PharmacyEvent.PurchaseOrderPlaced.routingKey,
      type: PharmacyEvent.PurchaseOrderPlaced.type,
      aggregateId: order.purchaseOrderId,
    });
    expect(message.payload).toEqual({
      purchaseOrderId: order.purchaseOrderId,
      reorderId: reorder.reorderId,
      medicationCode: '313782',
      locationId: 'ward-3a',
      quantity: 200,
    });
  });

  it('records valid FHIR R4 SupplyRequest and SupplyDelivery resources', () => {
    const request = supplyRequestFor(order, new Date('2026-01-02T03:04:05Z'));
    expect(request.id).toBe(order.purchaseOrderId);
    expect(request.status).toBe('active');
    expect(() => validator.validate(request)).not.toThrow();
    const delivery = supplyDeliveryFor(order, 'dl-1', new Date('2026-01-03T00:00:00Z'));
    expect(delivery.basedOn).toEqual([{ reference: `SupplyRequest/${order.purchaseOrderId}` }]);
    expect(() => validator.validate(delivery)).not.toThrow();
  });

  it('tells inventory about the delivery on the stock aggregate of the drug and location', () => {
    const event = stockDeliveredEvent(order, 'dl-1');
    expect(event.aggregateId).toBe(stockAggregate('313782', 'ward-3a'));
    expect(event.routingKey).toBe(PharmacyEvent.StockDelivered.routingKey);
    expect(event.payload).toMatchObject({ deliveryId: 'dl-1', reorderId: reorder.reorderId, quantity: 200 });
  });
});

describe('decideDelivery', () => {
  const order = purchaseOrderFor(reorder);
  const delivery = {
    deliveryId: 'dl-1',
    purchaseOrderId: order.purchaseOrderId,
    medicationCode: order.medicationCode,
    locationId: order.locationId,
    quantity: order.quantity,
  };

  it('completes a placed order, and treats its own delivery again as a duplicate', () => {
    expect(decideDelivery(order, delivery)).toBe('complete');
    const completed = { ...order, status: 'completed' as const, deliveryId: 'dl-1' };
    expect(decideDelivery(completed, delivery)).toBe('duplicate');
  });

  it('refuses deliveries that can never apply', () => {
    expect(codeOf(() => decideDelivery(undefined, delivery))).toBe(SupplyChainErrorCode.UnknownPurchaseOrder);
    expect(codeOf(() => decideDelivery(order, { ...delivery, quantity: 1 }))).toBe(
      SupplyChainErrorCode.DeliveryMismatch,
    );
    const completed = { ...order, status: 'completed' as const, deliveryId: 'dl-0' };
    expect(codeOf(() => decideDelivery(completed, delivery))).toBe(SupplyChainErrorCode.AlreadyDelivered);
  });
});
