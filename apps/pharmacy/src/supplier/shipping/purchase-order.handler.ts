import { Inject, Injectable } from '@nestjs/common';
import { Session } from '@hospital/platform';
import { InboundMessage, MessageHandler, parseMessagePayload } from '@hospital/transactions';
import { PurchaseOrderPlacedPayload } from '../../contracts/pharmacy-events';
import { decideReceipt, supplierOrderOf } from './shipment';
import { ShippingService } from './shipping.service';
import { SupplierRepository } from './supplier.repository';

/**
 * A purchase order from the supply chain, in the inbox's local transaction: booked once (the purchase
 * order id is the key), with its shipping time. A repeat under another message id is counted, not booked.
 */
@Injectable()
export class PurchaseOrderHandler implements MessageHandler<Session> {
  constructor(
    @Inject(SupplierRepository) private readonly repository: SupplierRepository,
    @Inject(ShippingService) private readonly shipping: ShippingService,
  ) {}

  async handle(session: Session, message: InboundMessage): Promise<void> {
    const order = supplierOrderOf(parseMessagePayload(PurchaseOrderPlacedPayload, message));
    const due = await this.repository.book(
      session,
      order,
      { gtid: message.gtid, messageId: message.id },
      this.shipping.delayMs,
    );
    if (due !== undefined) {
      this.shipping.wakeAt(due);
      return;
    }
    const existing = await this.repository.find(session, order.purchaseOrderId);
    // A conflicting repeat throws a SupplierException: dead-lettered by the inbox with its code.
    decideReceipt(existing, order);
    await this.repository.countRepeat(session, order.purchaseOrderId);
  }
}
