import { PHARMACY_EXCHANGE, PharmacyEvent } from '../../contracts/pharmacy-events';
import { decideReceipt, deliveryIdFor, deliveryShippedEvent, shipDueAt, SupplierOrder } from './shipment';
import { shippingIntervalMs } from './shipping.service';
import { SupplierErrorCode, SupplierException } from './supplier.exception';

const order: SupplierOrder = {
  purchaseOrderId: 'po-abc',
  reorderId: 'r-1',
  medicationCode: '313782',
  locationId: 'ward-3a',
  quantity: 30,
};

describe('the supplier', () => {
  it('books a new purchase order and counts the same order again as a repeat', () => {
    expect(decideReceipt(undefined, order)).toBe('book');
    expect(decideReceipt(order, { ...order })).toBe('repeat');
  });

  it('refuses a purchase order id that comes back with other contents', () => {
    expect(() => decideReceipt(order, { ...order, quantity: 31 })).toThrow(SupplierException);
    try {
      decideReceipt(order, { ...order, reorderId: 'r-2' });
    } catch (error) {
      expect((error as SupplierException).code).toBe(SupplierErrorCode.PurchaseOrderConflict);
    }
  });

  it('ships each order under one delivery id, SUPPLIER_DELAY_MS after it arrived', () => {
    expect(deliveryIdFor('po-abc')).toBe(deliveryIdFor('po-abc'));
    expect(deliveryIdFor('po-abc')).not.toBe(deliveryIdFor('po-abd'));
    expect(shipDueAt(new Date(1_000), 2_000)).toEqual(new Date(3_000));
  });

  it('announces the shipment as DeliveryShipped, the delivery id as its message id', () => {
    const event = deliveryShippedEvent(order, 'gtid-1');
    expect(event).toMatchObject({
      id: deliveryIdFor('po-abc'),
      exchange: PHARMACY_EXCHANGE,
      routingKey: PharmacyEvent.DeliveryShipped.routingKey,
      type: PharmacyEvent.DeliveryShipped.type,
      aggregateId: 'po-abc',
      gtid: 'gtid-1',
    });
    expect(event.payload).toEqual({
      deliveryId: deliveryIdFor('po-abc'),
      purchaseOrderId: 'po-abc',
      medicationCode: '313782',
      locationId: 'ward-3a',
      quantity: 30,
    });
  });

  it('sweeps a quarter of the delay apart, between 50 ms and a second', () => {
    expect(shippingIntervalMs(0)).toBe(50);
    expect(shippingIntervalMs(2_000)).toBe(500);
    expect(shippingIntervalMs(60_000)).toBe(1_000);
  });
});
