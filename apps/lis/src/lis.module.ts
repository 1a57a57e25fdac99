import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import { AuditTrailModule } from '@hospital/transactions';
import { LIS_RESOURCES } from './fhir-resources';
import { LisConfig } from './config';
import { OrdersModule } from './orders/orders.module';

/** The laboratory information system: copies of patients and lab orders, kept by the EMR's record update. */
@Module({})
export class LisModule {
  static forRoot(config: LisConfig): DynamicModule {
    return {
      module: LisModule,
      imports: [
        PlatformModule.forRoot(config),
        FhirModule.forRoot({ serviceName: 'lis', resources: LIS_RESOURCES }),
        OrdersModule,
        AuditTrailModule.forRoot(),
      ],
    };
  }
}
