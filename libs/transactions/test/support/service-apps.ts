import type { DynamicModule, INestApplication } from '@nestjs/common';
import {
  BaseEnvironment,
  buildServiceConfig,
  createServiceApp,
  PlatformModule,
  ServiceConfig,
} from '@hospital/platform';
import {
  MESSAGE_PUBLISHER,
  MessagePublisher,
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
} from '@hospital/transactions';

/** The outbox's and inbox's tables (`tx_outbox`, `tx_inbox`), for a suite's own database. */
export const messagingMigrations = [
  MessagingTables1763800000000,
  OutboxLeanIndexes1763800000300,
  OutboxUnroutable1763800000400,
  OutboxTraceContext1766600000000,
];

export interface TestServiceOptions {
  /** The service's name: what its tokens say it is, and whom it trusts as peers. */
  name: string;
  port: number;
  /** Its database (a suite's fresh one, from `createTestDatabase`). */
  database: string;
  /** Base URLs of the peers it calls, by service name. */
  peers?: Record<string, string>;
  /** Variables over the process environment, after the defaults below. */
  env?: Record<string, string>;
}

/**
 * A service's configuration as a spec boots it: the process environment (PostgreSQL, RabbitMQ, the spec
 * file's SERVICE_KEY_SEED), its port and database, silent logs, then the suite's own `env`.
 */
export function testServiceConfig({ name, port, database, peers, env }: TestServiceOptions): ServiceConfig {
  return buildServiceConfig({ name, defaultPort: port, peers }, BaseEnvironment, {
    ...process.env,
    PORT: String(port),
    PGDATABASE: database,
    LOG_LEVEL: 'silent',
    ...env,
  });
}

/**
 * A real Nest app of `PlatformModule` and the library modules under test, with the platform's bootstrap
 * (pipes, filters, body limits), listening on the configuration's port on 127.0.0.1.
 */
export async function startTestService(
  config: ServiceConfig,
  imports: DynamicModule['imports'] = [],
): Promise<INestApplication> {
  const app = await createServiceApp(
    { module: class TestServiceModule {}, imports: [PlatformModule.forRoot(config), ...imports] },
    config,
  );
  await app.listen(config.port, '127.0.0.1');
  return app;
}

/**
 * Provides `MESSAGE_PUBLISHER` to the whole app: a message server under test publishes through
 * `publisher` (a recording one, or the real RabbitMQ publisher wrapped to count or fail confirms).
 */
export function publisherModule(publisher: MessagePublisher): DynamicModule {
  return {
    module: class PublisherModule {},
    global: true,
    providers: [{ provide: MESSAGE_PUBLISHER, useValue: publisher }],
    exports: [MESSAGE_PUBLISHER],
  };
}
