import { Module } from '@nestjs/common';
import { ServiceAuthModule } from '@hospital/platform';
import { AlertsController, InternalAlertsController } from './alerts.controller';
import { AlertsRepository } from './alerts.repository';
import { AlertsService } from './alerts.service';
import { StationReconciler } from './station.reconciler';

/** Alerts in (pushed, or reconciled from the monitor), de-duplicated by key, and shown. */
@Module({
  imports: [ServiceAuthModule],
  controllers: [InternalAlertsController, AlertsController],
  providers: [AlertsRepository, AlertsService, StationReconciler],
})
export class AlertsModule {}
