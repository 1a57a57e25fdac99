import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { pacsConfig } from './config';
import { PacsModule } from './pacs.module';

runService(
  'pacs',
  () => pacsConfig(),
  (config) => PacsModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
  },
);
