import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import { PACS_RESOURCES } from './fhir-resources';
import { PacsConfig } from './config';
import { OrdersModule } from './orders/orders.module';

/** The imaging system: copies of patients and imaging orders, kept by the EMR's record update. */
@Module({})
export class PacsModule {
  static forRoot(config: PacsConfig): DynamicModule {
    return {
      module: PacsModule,
      imports: [
        PlatformModule.forRoot(config),
        FhirModule.forRoot({ serviceName: 'pacs', resources: PACS_RESOURCES }),
        OrdersModule,
      ],
    };
  }
}
