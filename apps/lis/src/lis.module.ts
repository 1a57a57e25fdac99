import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import { AuditTrailModule } from '@hospital/transactions';
import { AnalyzerOrderHandler } from './analyzer/analyzer-order.handler';
import { analyzerOrdersConsumer } from './analyzer/analyzer-orders.consumer';
import { LIS_RESOURCES } from './fhir-resources';
import { LisConfig } from './config';
import { OrdersModule } from './orders/orders.module';
import { ResultsModule } from './results/results.module';

/**
 * The laboratory information system: copies of patients and lab orders, kept by the EMR's record update;
 * each new lab order sent once to the analyzer (OML^O21 over MLLP, from its outbox); the analyzer's results
 * (ORU^R01 over MLLP) kept as Observations and DiagnosticReports and announced to the EMR.
 */
@Module({})
export class LisModule {
  static forRoot(config: LisConfig): DynamicModule {
    return {
      module: LisModule,
      imports: [
        PlatformModule.forRoot(config),
        FhirModule.forRoot({ serviceName: 'lis', resources: LIS_RESOURCES }),
        OrdersModule,
        ResultsModule,
        AuditTrailModule.forRoot({
          messaging: { consumers: [analyzerOrdersConsumer], providers: [AnalyzerOrderHandler] },
        }),
      ],
    };
  }
}
