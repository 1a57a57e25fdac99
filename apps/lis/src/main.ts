import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { lisConfig } from './config';
import { LisModule } from './lis.module';

runService(
  'lis',
  () => lisConfig(),
  (config) => LisModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
  },
);
