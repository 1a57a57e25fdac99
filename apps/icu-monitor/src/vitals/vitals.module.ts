import { Module } from '@nestjs/common';
import { BedsModule } from '../beds/beds.module';
import { AlertNotifier, NoStationAlertNotifier } from './alert-notifier';
import { VitalsRepository } from './vitals.repository';
import { VitalsService } from './vitals.service';

/**
 * Vital signs: their checks, each patient's latest readings and NEWS2 state, and the alert notifier (the
 * FHIR writer uses the service). The notifier is a port: the best-effort station notifier replaces
 * NoStationAlertNotifier when it lands.
 */
@Module({
  imports: [BedsModule],
  providers: [VitalsRepository, VitalsService, { provide: AlertNotifier, useClass: NoStationAlertNotifier }],
  exports: [VitalsService],
})
export class VitalsModule {}
