import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import { MessagingModule } from '@hospital/transactions';
import { PHARMACY_EXCHANGE, PharmacyEvent } from '../contracts/pharmacy-events';
import { PharmacyConfig } from '../config';
import { SUPPLY_CHAIN_RESOURCES } from './fhir-resources';
import { PurchasingModule } from './purchasing/purchasing.module';
import { StockLowHandler } from './purchasing/stock-low.handler';
import { SupplyChainFhirWriter } from './purchasing/supply-chain.fhir-writer';
import { SupplyPurchaseOrderEntity } from './purchasing/supply-purchase-order.entity';
import { SupplyReorderEntity } from './purchasing/supply-reorder.entity';
import { DeliveryShippedHandler } from './receiving/delivery-shipped.handler';

/** Queues the supply chain consumes. */
export const SUPPLY_CHAIN_QUEUES = {
  stockLow: 'pharmacy.supply-chain.stock-low',
  deliveryShipped: 'pharmacy.supply-chain.delivery-shipped',
} as const;

/**
 * The pharmacy's supply chain: turns inventory's StockLow events into purchase orders (FHIR SupplyRequest,
 * sent to the supplier as two-phase messages) and the supplier's deliveries into FHIR SupplyDelivery records
 * and StockDelivered events for inventory (through the outbox).
 */
@Module({})
export class SupplyChainModule {
  static forRoot(config: PharmacyConfig): DynamicModule {
    return {
      module: SupplyChainModule,
      imports: [
        PlatformModule.forRoot(config, { entities: [SupplyReorderEntity, SupplyPurchaseOrderEntity] }),
        FhirModule.forRoot({
          serviceName: config.service.name,
          resources: SUPPLY_CHAIN_RESOURCES,
          writes: { SupplyRequest: ['create'] },
          writer: { useExisting: SupplyChainFhirWriter },
          imports: [PurchasingModule],
        }),
        MessagingModule.forRoot({
          outbox: true,
          consumers: [
            {
              queue: SUPPLY_CHAIN_QUEUES.stockLow,
              bindings: [{ exchange: PHARMACY_EXCHANGE, routingKey: PharmacyEvent.StockLow.routingKey }],
              handler: StockLowHandler,
            },
            {
              queue: SUPPLY_CHAIN_QUEUES.deliveryShipped,
              bindings: [
                { exchange: PHARMACY_EXCHANGE, routingKey: PharmacyEvent.DeliveryShipped.routingKey },
              ],
              handler: DeliveryShippedHandler,
            },
          ],
          imports: [PurchasingModule],
          providers: [StockLowHandler, DeliveryShippedHandler],
        }),
      ],
    };
  }
}
