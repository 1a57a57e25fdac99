import { Inject, Injectable } from '@nestjs/common';
import type { SupplyRequest } from '@medplum/fhirtypes';
import { FhirResourceStore } from '@hospital/fhir';
import { Session } from '@hospital/platform';
import { InboundMessage, MessageHandler, Outbox, parseMessagePayload } from '@hospital/transactions';
import { DeliveryShippedPayload } from '../../contracts/pharmacy-events';
import { decideDelivery, stockDeliveredEvent, supplyDeliveryFor } from '../purchasing/purchase-order';
import { PurchasingRepository } from '../purchasing/purchasing.repository';

/**
 * The supplier's DeliveryShipped, in the inbox's local transaction: records the FHIR SupplyDelivery,
 * completes the purchase order (and its SupplyRequest) and appends StockDelivered for inventory to the
 * outbox — all or nothing. A delivery that can never apply (unknown order, another drug or quantity, a
 * second delivery) is dead-lettered with the reason.
 */
@Injectable()
export class DeliveryShippedHandler implements MessageHandler<Session> {
  constructor(
    @Inject(PurchasingRepository) private readonly repository: PurchasingRepository,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(Outbox) private readonly outbox: Outbox,
  ) {}

  async handle(session: Session, message: InboundMessage): Promise<void> {
    const delivery = parseMessagePayload(DeliveryShippedPayload, message);
    const order = await this.repository.findPurchaseOrder(session, delivery.purchaseOrderId, true);
    // A delivery that can never apply throws a SupplyChainException: dead-lettered with its code.
    const decision = decideDelivery(order, delivery);
    if (decision === 'duplicate' || order === undefined) return;

    const receivedAt = new Date();
    await this.repository.completePurchaseOrder(session, order.purchaseOrderId, delivery.deliveryId);
    const request = await this.store.read<SupplyRequest>(session, 'SupplyRequest', order.purchaseOrderId);
    await this.store.update(session, { ...request, status: 'completed' });
    await this.store.upsertCopy(session, supplyDeliveryFor(order, delivery.deliveryId, receivedAt));
    await this.outbox.append(session, [stockDeliveredEvent(order, delivery.deliveryId)]);
  }
}
