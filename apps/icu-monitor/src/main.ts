import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { icuMonitorConfig } from './config';
import { connectVitalsFeed } from './feed/vitals-feed.server';
import { IcuMonitorModule } from './icu-monitor.module';

runService(
  'icu-monitor',
  () => icuMonitorConfig(),
  (config) => IcuMonitorModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    beforeListen: connectVitalsFeed,
    description:
      'ICU monitor: the unit’s beds and admissions at /api/beds; vital signs (FHIR Observation, single or in batch Bundles) at /fhir, scored with NEWS2 as they arrive into RiskAssessments and alert Flags; the same vitals from bedside devices over MQTT (QoS 1).',
  },
);
