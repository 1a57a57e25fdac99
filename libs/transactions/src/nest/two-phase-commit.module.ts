import { DynamicModule, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import {
  Database,
  environmentOf,
  MetricsRegistry,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  ServiceConfig,
  TwoPhaseCommitEnvironment,
} from '@hospital/platform';
import { serviceCredentials, ServiceAuthModule } from '@hospital/platform';
import { Logger } from 'pino';
import { PostgresPreparedResource } from '../adapters/postgres/postgres-prepared-resource';
import { PostgresTwoPhaseLog } from '../adapters/postgres/postgres-coordinator-log';
import { HttpCoordinatorClient, HttpParticipantClient } from '../adapters/http/two-phase-commit.http';
import { TwoPhaseCoordinator } from '../two-phase-commit/coordinator';
import { BranchWork, TwoPhaseParticipant } from '../two-phase-commit/participant';
import { MetricsTransactionObserver, protocolLogger } from './observability';
import { RECOVERY_LOOPS, RecoveryLoop, RecoveryLoops } from './recovery-loop';
import {
  TRANSACTION_BROWSER,
  TwoPhaseCoordinatorController,
  TwoPhaseParticipantController,
} from './two-phase-commit.controllers';
import { transactionBrowser, TransactionsApiModule } from './transaction-browsers.module';
import { Session } from '@hospital/platform';
import { faultPoints } from './fault-points';
import { transactionOperationsProviders } from './transactions-admin.controller';
import { PeerPoolsLifecycle } from './peer-pools.lifecycle';

/** Provider token of the participant's business step (a `BranchWork<Session>`). */
export const BRANCH_WORK = Symbol('BRANCH_WORK');

/** Lets the coordinator's background phase twos stop with the service (recovery takes them over). */
@Injectable()
class CoordinatorLifecycle implements OnApplicationShutdown {
  constructor(@Inject(TwoPhaseCoordinator) private readonly coordinator: TwoPhaseCoordinator<Session>) {}
  onApplicationShutdown(): Promise<void> {
    return this.coordinator.stop();
  }
}

export interface TwoPhaseCommitOptions {
  /** Services this one coordinates 2PC transactions with, by name (their URLs come from config peers). */
  participants?: string[];
  /** Set when this service takes part in others' 2PC transactions: the provider of its BranchWork. */
  participant?: boolean;
}

/**
 * Wires the two-phase commit core to PostgreSQL, HTTP, metrics and logs. A coordinator gets a
 * `TwoPhaseCoordinator<Session>` to inject; a participant provides `BRANCH_WORK` and gets the
 * `/internal/2pc` endpoints. Both get recovery sweeps and `/api/transactions`.
 */
@Module({})
export class TwoPhaseCommitModule {
  /**
   * The coordinator and / or participant of the calling feature module (the one whose work the
   * transactions carry), on the service's `Database` from `PlatformModule.forRoot`.
   */
  static forFeature(
    options: TwoPhaseCommitOptions,
    extraProviders: DynamicModule['providers'] = [],
  ): DynamicModule {
    const coordinating = (options.participants ?? []).length > 0;
    // `/api/transactions` and its in-doubt routes come from TransactionsApiModule, imported below.
    const controllers: NonNullable<DynamicModule['controllers']> = [];
    if (coordinating) controllers.push(TwoPhaseCoordinatorController);
    if (options.participant) controllers.push(TwoPhaseParticipantController);

    const observerProvider = {
      provide: MetricsTransactionObserver,
      inject: [MetricsRegistry],
      useFactory: (metrics: MetricsRegistry) => new MetricsTransactionObserver(metrics),
    };
    const providers: NonNullable<DynamicModule['providers']> = [
      ...extraProviders,
      observerProvider,
      {
        provide: PostgresTwoPhaseLog,
        inject: [Database],
        useFactory: (db: Database) => new PostgresTwoPhaseLog(db),
      },
      { provide: TRANSACTION_BROWSER, useExisting: PostgresTwoPhaseLog },
      transactionBrowser('2pc', [PostgresTwoPhaseLog], (log: PostgresTwoPhaseLog) => log),
      PeerPoolsLifecycle,
      RecoveryLoops,
      ...transactionOperationsProviders(),
    ];
    const loopDeps: unknown[] = [SERVICE_CONFIG, ROOT_LOGGER];
    if (coordinating) {
      providers.push({
        provide: TwoPhaseCoordinator,
        inject: [SERVICE_CONFIG, PostgresTwoPhaseLog, MetricsTransactionObserver, ROOT_LOGGER],
        useFactory: (
          config: ServiceConfig,
          log: PostgresTwoPhaseLog,
          observer: MetricsTransactionObserver,
          logger: Logger,
        ) =>
          new TwoPhaseCoordinator<Session>(
            log,
            (options.participants ?? []).map((name) => {
              const url = config.peers[name];
              if (!url) throw new Error(`no URL configured for 2PC participant '${name}'`);
              return new HttpParticipantClient(
                name,
                url,
                config.service.name,
                serviceCredentials(config),
                environmentOf(config, TwoPhaseCommitEnvironment).TX_VOTE_TIMEOUT_MS * 2,
              );
            }),
            {
              name: config.service.name,
              voteTimeoutMs: environmentOf(config, TwoPhaseCommitEnvironment).TX_VOTE_TIMEOUT_MS,
              points: faultPoints(config),
            },
            observer,
            protocolLogger(logger),
          ),
      });
      providers.push(CoordinatorLifecycle);
      loopDeps.push(TwoPhaseCoordinator);
    }
    if (options.participant) {
      providers.push({
        provide: TwoPhaseParticipant,
        inject: [SERVICE_CONFIG, Database, BRANCH_WORK, MetricsTransactionObserver, ROOT_LOGGER],
        useFactory: (
          config: ServiceConfig,
          db: Database,
          work: BranchWork<Session>,
          observer: MetricsTransactionObserver,
          logger: Logger,
        ) =>
          new TwoPhaseParticipant<Session>(
            new PostgresPreparedResource(db),
            new HttpCoordinatorClient(config.peers, serviceCredentials(config)),
            work,
            {
              inDoubtAfterMs: environmentOf(config, TwoPhaseCommitEnvironment).TX_IN_DOUBT_AFTER_MS,
              points: faultPoints(config),
            },
            observer,
            protocolLogger(logger),
          ),
      });
      loopDeps.push(TwoPhaseParticipant);
    }
    providers.push({
      provide: RECOVERY_LOOPS,
      inject: loopDeps as never[],
      useFactory: (
        config: ServiceConfig,
        logger: Logger,
        ...cores: (TwoPhaseCoordinator<Session> | TwoPhaseParticipant<Session>)[]
      ) =>
        cores.map(
          (core) =>
            new RecoveryLoop(
              core instanceof TwoPhaseCoordinator ? '2pc-coordinator' : '2pc-participant',
              () => core.recover(),
              environmentOf(config, TwoPhaseCommitEnvironment).TX_RECOVERY_INTERVAL_MS,
              logger,
            ),
        ),
    });
    return {
      module: TwoPhaseCommitModule,
      imports: [ServiceAuthModule, TransactionsApiModule],
      controllers,
      providers,
      exports: coordinating ? [TwoPhaseCoordinator, RecoveryLoops] : [RecoveryLoops],
    };
  }
}
