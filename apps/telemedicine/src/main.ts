import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { telemedicineConfig } from './config';
import { TelemedicineModule } from './telemedicine.module';

runService(
  'telemedicine',
  () => telemedicineConfig(),
  (config) => TelemedicineModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    description:
      'Telemedicine: consult requests (ServiceRequest) and virtual sessions (Encounter, class VR) at /fhir; POST /fhir/ServiceRequest/:id/$complete commits the expert findings to the EMR, the consult record and the referring site inbox.',
  },
);
