import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import { AuditTrailModule, BestEffortModule } from '@hospital/transactions';
import { IcuBedEntity } from './beds/icu-bed.entity';
import { BedsModule } from './beds/beds.module';
import type { IcuMonitorConfig } from './config';
import { FeedModule } from './feed/feed.module';
import { ICU_RESOURCES } from './fhir-resources';
import { STATION_CHANNEL, StationHttpChannel } from './station/station-http.channel';
import { IcuFhirWriter } from './vitals/icu-fhir.writer';
import { VitalsModule } from './vitals/vitals.module';

/**
 * The ICU monitor: the unit's beds and admissions at /api/beds; vital signs as FHIR Observations at /fhir
 * (single creates and batch Bundles), each scored with NEWS2 on arrival into RiskAssessments and, on
 * escalation, Flags — in the vital's own local transaction, with a best-effort notification of each alert
 * to the central monitoring station (delivered by the `station-http` dispatcher; `/api/notifications`).
 */
@Module({})
export class IcuMonitorModule {
  static forRoot(config: IcuMonitorConfig): DynamicModule {
    return {
      module: IcuMonitorModule,
      imports: [
        PlatformModule.forRoot(config, { entities: [IcuBedEntity] }),
        FhirModule.forRoot({
          serviceName: config.service.name,
          resources: ICU_RESOURCES,
          writes: { Observation: ['create'] },
          batch: true,
          concurrentBatchEntries: true,
          writer: IcuFhirWriter,
          imports: [VitalsModule],
        }),
        BestEffortModule.forRoot({ channels: [{ name: STATION_CHANNEL, channel: StationHttpChannel }] }),
        BedsModule,
        FeedModule,
        AuditTrailModule.forRoot(),
      ],
    };
  }
}
