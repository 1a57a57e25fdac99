import { FhirExceptionFilter } from '@hospital/fhir';
import { environmentOf, runService } from '@hospital/platform';
import { GatewayEnvironment, gatewayConfig } from './config';
import { gatewayCorsOptions } from './edge/security-headers';
import { GatewayModule } from './gateway.module';

runService(
  'gateway',
  () => gatewayConfig(),
  (config) => GatewayModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    description: 'The hospital FHIR gateway: one FHIR R4 base routing each resource type to its service.',
    parseBodies: false,
    beforeListen: (app, config) => {
      const cors = gatewayCorsOptions(environmentOf(config, GatewayEnvironment));
      // Without configured origins there is nothing to allow: no CORS middleware on every request.
      if (cors.origin !== false) app.enableCors(cors);
      return Promise.resolve();
    },
  },
);
