import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { icuStationConfig } from './config';
import { IcuStationModule } from './icu-station.module';

runService(
  'icu-station',
  () => icuStationConfig(),
  (config) => IcuStationModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    description:
      'Central monitoring station: NEWS2 alerts from the ICU monitor at /internal/alerts (service token, Idempotency-Key), shown at /api/alerts; reconciles missed ones from the monitor’s /api/notifications.',
  },
);
