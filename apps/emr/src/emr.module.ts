import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import { AuditTrailModule } from '@hospital/transactions';
import { EMR_RESOURCES } from './fhir-resources';
import { EmrConfig } from './config';
import { EmrFhirWriter } from './records/emr-fhir.writer';
import { ConsultsModule } from './consults/consults.module';
import { RecordsModule } from './records/records.module';
import { OrderResultsHandler, orderResultsConsumer } from './results/order-results.handler';

/**
 * The electronic medical record: the clinician's FHIR endpoint, the coordinator of the record update, and
 * the chart the departments' results arrive in (through its inbox).
 */
@Module({})
export class EmrModule {
  static forRoot(config: EmrConfig): DynamicModule {
    return {
      module: EmrModule,
      imports: [
        PlatformModule.forRoot(config),
        FhirModule.forRoot({
          serviceName: 'emr',
          resources: EMR_RESOURCES,
          writes: {
            Patient: ['create', 'update'],
            ServiceRequest: ['create'],
            Encounter: ['create'],
            Practitioner: ['create'],
          },
          transaction: true,
          writer: EmrFhirWriter,
          imports: [RecordsModule, ConsultsModule],
        }),
        AuditTrailModule.forRoot({
          messaging: { consumers: [orderResultsConsumer], providers: [OrderResultsHandler] },
        }),
      ],
    };
  }
}
