import { DynamicModule, Module } from '@nestjs/common';
import { PlatformModule } from '@hospital/platform';
import { MessagingModule } from '@hospital/transactions';
import { PHARMACY_EXCHANGE, PharmacyEvent } from '../contracts/pharmacy-events';
import { PharmacyConfig } from '../config';
import { PurchaseOrderHandler } from './shipping/purchase-order.handler';
import { ShippingModule } from './shipping/shipping.module';
import { SupplierPurchaseOrderEntity } from './shipping/supplier-purchase-order.entity';

/** Queue the supplier consumes purchase orders from. */
export const SUPPLIER_QUEUE = 'pharmacy.supplier.purchase-orders';

/**
 * The simulated external supplier: books each purchase order once and ships it after SUPPLIER_DELAY_MS,
 * announcing the shipment (DeliveryShipped) through its outbox.
 */
@Module({})
export class SupplierModule {
  static forRoot(config: PharmacyConfig): DynamicModule {
    return {
      module: SupplierModule,
      imports: [
        PlatformModule.forRoot(config, { entities: [SupplierPurchaseOrderEntity] }),
        MessagingModule.forRoot({
          outbox: true,
          consumers: [
            {
              queue: SUPPLIER_QUEUE,
              bindings: [
                { exchange: PHARMACY_EXCHANGE, routingKey: PharmacyEvent.PurchaseOrderPlaced.routingKey },
              ],
              handler: PurchaseOrderHandler,
            },
          ],
          imports: [ShippingModule],
          providers: [PurchaseOrderHandler],
        }),
      ],
    };
  }
}
