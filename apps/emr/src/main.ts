import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { emrConfig } from './config';
import { EmrModule } from './emr.module';

runService(
  'emr',
  () => emrConfig(),
  (config) => EmrModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
  },
);
