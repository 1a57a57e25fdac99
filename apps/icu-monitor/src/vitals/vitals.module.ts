import { Module } from '@nestjs/common';
import { BedsModule } from '../beds/beds.module';
import { StationAlertNotifier } from '../station/station-alert.notifier';
import { AlertNotifier } from './alert-notifier';
import { VitalsRepository } from './vitals.repository';
import { VitalsService } from './vitals.service';

/**
 * Vital signs: their checks, each patient's latest readings and NEWS2 state, and the alert notifier (the
 * FHIR writer uses the service). The notifier is a port; here the station's, which writes each alert to the
 * best-effort notification log (`Notifications`, global from the root module's BestEffortModule).
 */
@Module({
  imports: [BedsModule],
  providers: [
    VitalsRepository,
    VitalsService,
    StationAlertNotifier,
    { provide: AlertNotifier, useExisting: StationAlertNotifier },
  ],
  exports: [VitalsService],
})
export class VitalsModule {}
