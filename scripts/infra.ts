// `npm run infra`: makes sure PostgreSQL, Redis and RabbitMQ are up and configured and every service's
// database exists and is migrated. Progress on stderr; exits non-zero with a one-line reason otherwise.
import { ensureInfrastructure, InfrastructureError } from './infra/index';

const log = (line: string): void => {
  process.stderr.write(`infra: ${line}\n`);
};

async function main(): Promise<void> {
  await ensureInfrastructure({ log });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    if (error instanceof InfrastructureError) {
      process.stderr.write(`infra: error: ${error.message}\n`);
    } else {
      const text =
        error instanceof Error
          ? process.env.DEBUG
            ? (error.stack ?? error.message)
            : error.message
          : String(error);
      process.stderr.write(
        `infra: error: ${text.replace(/:\n\s*/g, ': ').replace(/\n\s*/g, process.env.DEBUG ? '\n' : '; ')}\n`,
      );
    }
    process.exit(1);
  },
);
