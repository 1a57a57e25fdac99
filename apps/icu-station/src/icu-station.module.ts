import { DynamicModule, Module } from '@nestjs/common';
import { PlatformModule } from '@hospital/platform';
import { AuditTrailModule } from '@hospital/transactions';
import { AlertsModule } from './alerts/alerts.module';
import { StationAlertEntity } from './alerts/station-alert.entity';
import { StationCursorEntity } from './alerts/station-cursor.entity';
import type { IcuStationConfig } from './config';

/**
 * The central monitoring station: records each NEWS2 alert the ICU monitor notifies once per idempotency
 * key, shows them, and reconciles what it missed while it was down.
 */
@Module({})
export class IcuStationModule {
  static forRoot(config: IcuStationConfig): DynamicModule {
    return {
      module: IcuStationModule,
      imports: [
        PlatformModule.forRoot(config, { entities: [StationAlertEntity, StationCursorEntity] }),
        AlertsModule,
        AuditTrailModule.forRoot(),
      ],
    };
  }
}
