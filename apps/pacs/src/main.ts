import { ConfigError, startService } from '@hospital/platform';
import { FhirExceptionFilter } from '@hospital/fhir';
import { pacsConfig } from './config';
import { PacsModule } from './pacs.module';

async function main(): Promise<void> {
  const config = pacsConfig();
  await startService(PacsModule.forRoot(config), config, { filters: [new FhirExceptionFilter()] });
}

main().catch((error: unknown) => {
  // Configuration errors name the variable; anything else at start-up is printed without request data.
  process.stderr.write(
    `pacs failed to start: ${error instanceof ConfigError ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
