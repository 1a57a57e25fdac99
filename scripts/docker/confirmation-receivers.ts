// The simulated receivers of the appointments' confirmations in Docker Compose (compose.yaml's
// `confirmation-receivers`, beside the simulated analyzer): an SMTP sink on 2525, SMS and push gateways on
// 3062 and 3063, and a read-only view on 3061 (`GET /mail`, `GET /arrivals`). Point SMTP_URL,
// SMS_GATEWAY_URL and PUSH_GATEWAY_URL of appointments here; a real hospital names its own mail relay and
// gateways instead. Runs until SIGTERM.
import { ConfirmationSinks } from '../lib/confirmation-sinks';

const log = (line: string): void => void process.stderr.write(`confirmation-receivers: ${line}\n`);

async function main(): Promise<void> {
  const sinks = new ConfirmationSinks({
    host: '0.0.0.0',
    smtpPort: 2525,
    smsPort: 3062,
    pushPort: 3063,
    mailboxPort: 3061,
  });
  await sinks.start();
  log('SMTP on 2525, SMS gateway on 3062 (/messages), push gateway on 3063 (/notifications), view on 3061');
  const stop = (): void => {
    void sinks.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  log(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
