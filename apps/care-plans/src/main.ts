import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { CarePlansModule } from './care-plans.module';
import { carePlansConfig } from './config';

runService(
  'care-plans',
  () => carePlansConfig(),
  (config) => CarePlansModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    description:
      'Care plans: CareTeams and multidisciplinary CarePlans at /fhir; creating a CarePlan books its consults, imaging and drug regimen all or nothing, by saga, quota-cached saga or TCC (?_mode= or x-transaction-mode).',
  },
);
