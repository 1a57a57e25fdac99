import { DynamicModule, Module } from '@nestjs/common';
import { PlatformModule } from '@hospital/platform';
import { CapacityModule, MessagingModule } from '@hospital/transactions';
import { PHARMACY_EXCHANGE, PharmacyEvent } from '../contracts/pharmacy-events';
import type { PharmacyConfig } from '../config';
import { DRUG_CAPACITY } from './capacity/drug-capacity';
import { DispenseAppliedHandler, DISPENSES_QUEUE } from './messages/dispense-applied.handler';
import { DELIVERIES_QUEUE, StockDeliveredHandler } from './messages/stock-delivered.handler';
import { StockModule } from './stock/stock.module';

/**
 * The pharmacy's inventory part: consumes `MedicationDispensed` and `StockDelivered` through its inbox,
 * keeps stock and a ledger per drug and location, and opens reorders (`StockLow` through its outbox). Drug
 * stock per location is also reservable capacity (`drug:<code>@<location>`), which a treatment plan's
 * regimen reserves by saga or TCC at /api/capacity.
 */
@Module({})
export class InventoryModule {
  static forRoot(config: PharmacyConfig): DynamicModule {
    return {
      module: InventoryModule,
      imports: [
        PlatformModule.forRoot(config),
        MessagingModule.forRoot({
          outbox: true,
          consumers: [
            {
              queue: DISPENSES_QUEUE,
              bindings: [
                { exchange: PHARMACY_EXCHANGE, routingKey: PharmacyEvent.MedicationDispensed.routingKey },
              ],
              handler: DispenseAppliedHandler,
            },
            {
              queue: DELIVERIES_QUEUE,
              bindings: [
                { exchange: PHARMACY_EXCHANGE, routingKey: PharmacyEvent.StockDelivered.routingKey },
              ],
              handler: StockDeliveredHandler,
            },
          ],
          imports: [StockModule],
          providers: [DispenseAppliedHandler, StockDeliveredHandler],
        }),
        StockModule,
        CapacityModule.forRoot({ kinds: [DRUG_CAPACITY] }),
      ],
    };
  }
}
