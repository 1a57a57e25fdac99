import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { dispensingConfig } from '../config';
import { DispensingModule } from './dispensing.module';

runService(
  'pharmacy',
  () => dispensingConfig(),
  (config) => DispensingModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    description:
      'Pharmacy dispensing: formulary, prescriptions and dispenses at /fhir (FHIR R4); each dispense reaches the inventory through the outbox.',
  },
);
