import { ConfigError, startService } from '@hospital/platform';
import { FhirExceptionFilter } from '@hospital/fhir';
import { emrConfig } from './config';
import { EmrModule } from './emr.module';

async function main(): Promise<void> {
  const config = emrConfig();
  await startService(EmrModule.forRoot(config), config, { filters: [new FhirExceptionFilter()] });
}

main().catch((error: unknown) => {
  // Configuration errors name the variable; anything else at start-up is printed without request data.
  process.stderr.write(
    `emr failed to start: ${error instanceof ConfigError ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
