import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { inventoryConfig } from '../config';
import { InventoryModule } from './inventory.module';

runService(
  'pharmacy-inventory',
  () => inventoryConfig(),
  (config) => InventoryModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    description:
      'Pharmacy inventory: stock per drug and location, kept by dispense and delivery messages; reorders. ' +
      'FHIR R4 has no inventory resource (InventoryReport is R5), so /api/inventory is plain JSON.',
  },
);
