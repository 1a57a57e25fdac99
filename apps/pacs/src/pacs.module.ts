import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import {
  AuditTrailModule,
  CapacityModule,
  QuotaCacheModule,
  quotaCompletionsConsumer,
} from '@hospital/transactions';
import { IMAGING_CAPACITY } from './capacity/imaging-capacity';
import { PACS_RESOURCES } from './fhir-resources';
import { PacsConfig } from './config';
import { OrdersModule } from './orders/orders.module';

/**
 * The imaging system: copies of patients and imaging orders, kept by the EMR's record update; and its
 * imaging capacity per modality and day, which treatment plans reserve at /api/capacity (by saga, TCC, or
 * in the quota cache, applied when the plan's completion event arrives).
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
        QuotaCacheModule.forRoot({ participant: 'pacs' }),
        AuditTrailModule.forRoot({ messaging: { consumers: [quotaCompletionsConsumer('pacs')] } }),
      ],
    };
  }
}
