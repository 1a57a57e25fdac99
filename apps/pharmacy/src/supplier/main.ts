import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { supplierConfig } from '../config';
import { SupplierModule } from './supplier.module';

runService(
  'pharmacy-supplier',
  () => supplierConfig(),
  (config) => SupplierModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    description: 'Simulated external supplier of the pharmacy: books purchase orders, ships them.',
  },
);
