import { FhirExceptionFilter } from '@hospital/fhir';
import { environmentOf, ROOT_LOGGER, runService } from '@hospital/platform';
import type { Logger } from 'pino';
import { consoleDirectory, serveConsole } from './console/console-assets';
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
      const env = environmentOf(config, GatewayEnvironment);
      if (!serveConsole(app, consoleDirectory(env.CONSOLE_DIR)))
        app
          .get<Logger>(ROOT_LOGGER)
          .warn('the operations console is not built (npm run build:console): /console is off');
      const cors = gatewayCorsOptions(env);
      // Without configured origins there is nothing to allow: no CORS middleware on every request.
      if (cors.origin !== false) app.enableCors(cors);
      return Promise.resolve();
    },
  },
);
