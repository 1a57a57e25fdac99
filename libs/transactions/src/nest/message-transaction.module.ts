import {
  DynamicModule,
  Inject,
  Injectable,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import {
  Database,
  messageProducerAddresses,
  MetricsRegistry,
  ROOT_LOGGER,
  environmentOf,
  MessageServerEnvironment,
  SERVICE_CONFIG,
  SERVICE_CREDENTIALS,
  ServiceAuthModule,
  ServiceConfig,
  TransactionsEnvironment,
  ServiceCredentials,
  Session,
} from '@hospital/platform';
import { Logger } from 'pino';
import { HttpCheckBackClient, HttpMessageServerClient } from '../adapters/http/message-transaction.http';
import {
  PostgresMessageBarrierStore,
  PostgresMessageServerStore,
} from '../adapters/postgres/postgres-message-transaction';
import { MessageTransactionProducer } from '../message-transaction/producer';
import { MessageTransactionServer } from '../message-transaction/server';
import { MessagePublisher } from '../ports/messaging.ports';
import { faultPoints } from './fault-points';
import {
  MESSAGE_PRODUCERS,
  MESSAGE_SERVER_NAME,
  MessageCheckBackController,
  MessageServerController,
  MessageTransactionsController,
} from './message-transaction.controllers';
import { MESSAGE_PUBLISHER } from './messaging.module';
import { MetricsTransactionObserver, protocolLogger } from './observability';
import { PeerPoolsLifecycle } from './peer-pools.lifecycle';
import { RecoveryLoop } from './recovery-loop';
import { retentionProvider } from './retention';
import { PostgresRetention } from '../adapters/postgres/postgres-retention';
import { TransactionBrowsersModule } from './transaction-browsers.module';

/** The server's recovery sweep (re-publish, check-back), started with the app; `runOnce` for tests and tooling. */
@Injectable()
export class MessageServerRecovery implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly loop: RecoveryLoop;

  constructor(
    @Inject(MessageTransactionServer) server: MessageTransactionServer,
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.loop = new RecoveryLoop(
      'message-server',
      () => server.recover(),
      environmentOf(config, TransactionsEnvironment).TX_RECOVERY_INTERVAL_MS,
      logger,
    );
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  runOnce(): Promise<void> {
    return this.loop.runOnce();
  }
}

export interface MessageProducerOptions {
  /**
   * The message server's service name; its URL comes from config peers (`pharmacy-messages`). Only that
   * service may call this producer's check-back route. The server reaches this producer at the address
   * its own `MESSAGE_PRODUCERS` gives for this service's name.
   */
  server: string;
}

/**
 * This service's own base URL: `SERVICE_URL`, else its configured host and port (a wildcard host becomes
 * loopback). What a message server's `MESSAGE_PRODUCERS` should list for this service.
 */
export function ownBaseUrl(config: ServiceConfig): string {
  if (config.env.SERVICE_URL) return config.env.SERVICE_URL.replace(/\/+$/, '');
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

const observerProvider = {
  provide: MetricsTransactionObserver,
  inject: [MetricsRegistry],
  useFactory: (metrics: MetricsRegistry) => new MetricsTransactionObserver(metrics),
};

/**
 * Wires the two-phase message style to PostgreSQL, HTTP, the broker, metrics and logs.
 *
 * - `forRoot()`, in the message server's root module: the message server — `tx_message`, `/internal/message-transactions` (prepare, submit,
 *   abort), `/api/message-transactions`, its messages at `/api/transactions` (style `message`), a recovery
 *   sweep every `TX_RECOVERY_INTERVAL_MS`. Publishes
 *   through `MESSAGE_PUBLISHER`, which the root module provides by importing `MessagingModule.forRoot`.
 *   Serves the producers `MESSAGE_PRODUCERS` lists, and calls them back only there.
 * - `forFeature({ server })`, in a producer's feature module: a `MessageTransactionProducer<Session>` to inject, the barrier table
 *   `tx_message_barrier` in the service's own database, and the check-back route
 *   `POST /internal/message-transactions/:gtid/outcome`.
 *
 * Every internal route is behind `ServiceAuthGuard`; every call to another service carries this
 * service's token (signed with its own key).
 */
@Module({})
export class MessageTransactionModule {
  /** This service is the message server (imported once, by its root module). */
  static forRoot(): DynamicModule {
    return {
      module: MessageTransactionModule,
      imports: [ServiceAuthModule, TransactionBrowsersModule.forFeature(['message'])],
      controllers: [MessageServerController, MessageTransactionsController],
      providers: [
        observerProvider,
        {
          provide: MESSAGE_PRODUCERS,
          inject: [SERVICE_CONFIG],
          useFactory: (config: ServiceConfig) =>
            messageProducerAddresses(environmentOf(config, MessageServerEnvironment)),
        },
        {
          provide: PostgresMessageServerStore,
          inject: [Database],
          useFactory: (db: Database) => new PostgresMessageServerStore(db),
        },
        {
          provide: MessageTransactionServer,
          inject: [
            SERVICE_CONFIG,
            PostgresMessageServerStore,
            MESSAGE_PUBLISHER,
            MetricsTransactionObserver,
            ROOT_LOGGER,
            MESSAGE_PRODUCERS,
            SERVICE_CREDENTIALS,
          ],
          useFactory: (
            config: ServiceConfig,
            store: PostgresMessageServerStore,
            publisher: MessagePublisher,
            observer: MetricsTransactionObserver,
            logger: Logger,
            producers: Record<string, string>,
            credentials: ServiceCredentials,
          ) => {
            const env = environmentOf(config, MessageServerEnvironment);
            return new MessageTransactionServer(
              store,
              publisher,
              new HttpCheckBackClient(producers, credentials, env.TX_VOTE_TIMEOUT_MS),
              {
                checkBackAfterMs: env.MESSAGE_CHECK_BACK_AFTER_MS,
                checkBackTimeoutMs: env.TX_VOTE_TIMEOUT_MS,
                points: faultPoints(config),
              },
              observer,
              protocolLogger(logger),
            );
          },
        },
        MessageServerRecovery,
        PeerPoolsLifecycle,
        retentionProvider([Database], (db: Database) => [
          { table: 'tx_message', prune: (ms) => new PostgresRetention(db).pruneMessages(ms) },
        ]),
      ],
      exports: [MessageTransactionServer, MessageServerRecovery],
    };
  }

  /** The calling feature module produces two-phase messages through `options.server`. */
  static forFeature(options: MessageProducerOptions): DynamicModule {
    return {
      module: MessageTransactionModule,
      imports: [ServiceAuthModule],
      controllers: [MessageCheckBackController],
      providers: [
        observerProvider,
        { provide: MESSAGE_SERVER_NAME, useValue: options.server },
        PeerPoolsLifecycle,
        {
          provide: PostgresMessageBarrierStore,
          inject: [Database],
          useFactory: (db: Database) => new PostgresMessageBarrierStore(db),
        },
        {
          provide: MessageTransactionProducer,
          inject: [
            SERVICE_CONFIG,
            PostgresMessageBarrierStore,
            MetricsTransactionObserver,
            ROOT_LOGGER,
            SERVICE_CREDENTIALS,
          ],
          useFactory: (
            config: ServiceConfig,
            barrier: PostgresMessageBarrierStore,
            observer: MetricsTransactionObserver,
            logger: Logger,
            credentials: ServiceCredentials,
          ) => {
            const url = config.peers[options.server];
            if (!url) throw new Error(`no URL configured for the message server '${options.server}'`);
            return new MessageTransactionProducer<Session>(
              new HttpMessageServerClient(
                url,
                options.server,
                credentials,
                environmentOf(config, TransactionsEnvironment).TX_VOTE_TIMEOUT_MS * 2,
              ),
              barrier,
              { name: config.service.name, points: faultPoints(config) },
              observer,
              protocolLogger(logger),
            );
          },
        },
        // Far beyond any check-back: the server asks within a minute of a message's preparation.
        retentionProvider([PostgresMessageBarrierStore], (barrier: PostgresMessageBarrierStore) => [
          { table: 'tx_message_barrier', prune: (ms) => barrier.prune(ms) },
        ]),
      ],
      exports: [MessageTransactionProducer, PostgresMessageBarrierStore],
    };
  }
}
