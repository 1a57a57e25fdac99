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
import { StudiesModule } from './studies/studies.module';
import {
  worklistConsumer,
  worklistFolderProvider,
  WorklistRequestedHandler,
} from './worklist/worklist-requested.handler';

/**
 * The imaging system: copies of patients and imaging orders, kept by the EMR's record update; the modality
 * worklist of its DICOM archive (Orthanc), written from each new imaging order; the studies the archive
 * stores, read back as ImagingStudy resources that complete their orders and go to the EMR as results; and
 * its imaging capacity per modality and day, which treatment plans reserve at /api/capacity (by saga, TCC, or
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
        AuditTrailModule.forRoot({
          messaging: {
            consumers: [quotaCompletionsConsumer('pacs'), worklistConsumer],
            providers: [worklistFolderProvider, WorklistRequestedHandler],
          },
        }),
        StudiesModule,
      ],
    };
  }
}
