import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { supplyChainConfig } from '../config';
import { SupplyChainModule } from './supply-chain.module';

runService(
  'pharmacy-supply-chain',
  () => supplyChainConfig(),
  (config) => SupplyChainModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    description: 'Supply chain of the pharmacy: reorders, purchase orders (two-phase messages), deliveries.',
  },
);
