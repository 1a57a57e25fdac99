import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { messageServerConfig } from '../config';
import { MessageServerModule } from './message-server.module';

runService(
  'pharmacy-messages',
  () => messageServerConfig(),
  (config) => MessageServerModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    description: 'Two-phase message server of the pharmacy: prepared, submitted and delivered messages.',
  },
);
