import { ConfigError, startService } from '@hospital/platform';
import { FhirExceptionFilter } from '@hospital/fhir';
import { lisConfig } from './config';
import { LisModule } from './lis.module';

async function main(): Promise<void> {
  const config = lisConfig();
  await startService(LisModule.forRoot(config), config, { filters: [new FhirExceptionFilter()] });
}

main().catch((error: unknown) => {
  // Configuration errors name the variable; anything else at start-up is printed without request data.
  process.stderr.write(
    `lis failed to start: ${error instanceof ConfigError ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
