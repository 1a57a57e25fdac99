import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import { CapacityModule } from '@hospital/transactions';
import { IMAGING_CAPACITY } from './capacity/imaging-capacity';
import { PACS_RESOURCES } from './fhir-resources';
import { PacsConfig } from './config';
import { OrdersModule } from './orders/orders.module';

/**
 * The imaging system: copies of patients and imaging orders, kept by the EMR's record update; and its
 * imaging capacity per modality and day, which treatment plans reserve at /api/capacity.
 */
@Module({})
export class PacsModule {
  static forRoot(config: PacsConfig): DynamicModule {
    return {
      module: PacsModule,
      imports: [
        PlatformModule.forRoot(config),
        FhirModule.forRoot({ serviceName: 'pacs', resources: PACS_RESOURCES }),
        OrdersModule,
        CapacityModule.forRoot({ kinds: [IMAGING_CAPACITY] }),
      ],
    };
  }
}
