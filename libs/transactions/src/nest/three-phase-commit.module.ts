import { DynamicModule, Module } from '@nestjs/common';
import { Logger } from 'pino';
import {
  Database,
  environmentOf,
  MetricsRegistry,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  ServiceConfig,
  serviceCredentials,
  ServiceAuthModule,
  Session,
  ThreePhaseCommitEnvironment,
} from '@hospital/platform';
import { HttpThreePhaseClient } from '../adapters/http/three-phase-commit.http';
import { PostgresThreePhaseLog } from '../adapters/postgres/postgres-coordinator-log';
import { PostgresPreparedResource } from '../adapters/postgres/postgres-prepared-resource';
import { PostgresThreePhaseStates } from '../adapters/postgres/postgres-three-phase-states';
import { ThreePhaseCoordinator } from '../three-phase-commit/coordinator';
import { ThreePhaseParticipant } from '../three-phase-commit/participant';
import { BranchWork } from '../two-phase-commit/participant';
import { UncoordinatedApplyController, UncoordinatedApplyEnabled } from './branch-apply.controller';
import { faultPoints } from './fault-points';
import { MetricsTransactionObserver, protocolLogger } from './observability';
import { PeerPoolsLifecycle } from './peer-pools.lifecycle';
import { RECOVERY_LOOPS, RecoveryLoop, RecoveryLoops } from './recovery-loop';
import { ThreePhaseParticipantController } from './three-phase-commit.controller';
import { THREE_PHASE_BRANCH_WORK } from './three-phase-commit.tokens';
import { TRANSACTION_BROWSER } from './two-phase-commit.controllers';
import { transactionBrowser, TransactionsApiModule } from './transaction-browsers.module';

export interface ThreePhaseCommitOptions {
  /** Services this one coordinates 3PC transactions with, by name (their URLs come from config peers). */
  participants?: string[];
  /** Set when this service takes part in 3PC transactions: the module then needs THREE_PHASE_BRANCH_WORK. */
  participant?: boolean;
}

function clientsOf(
  config: ServiceConfig,
  names: readonly string[],
  timeoutMs: number,
): Map<string, HttpThreePhaseClient> {
  return new Map(
    names.map((name) => {
      const url = config.peers[name];
      if (!url) throw new Error(`no URL configured for 3PC participant '${name}'`);
      return [name, new HttpThreePhaseClient(name, url, serviceCredentials(config), timeoutMs)];
    }),
  );
}

/**
 * Wires the three-phase commit core to PostgreSQL, HTTP, metrics and logs. A coordinator gets a
 * `ThreePhaseCoordinator` to inject and `/api/transactions`; a participant provides
 * `THREE_PHASE_BRANCH_WORK` and gets `/internal/3pc`, with peers reached through the service's
 * configured peer URLs when it terminates a transaction without its coordinator.
 */
@Module({})
export class ThreePhaseCommitModule {
  static forFeature(
    options: ThreePhaseCommitOptions,
    extraProviders: DynamicModule['providers'] = [],
  ): DynamicModule {
    const coordinating = (options.participants ?? []).length > 0;
    const controllers: NonNullable<DynamicModule['controllers']> = [];
    if (options.participant) controllers.push(ThreePhaseParticipantController);
    // Measurement only: the branch step without a protocol, answering 404 unless TX_UNCOORDINATED_APPLY=true.
    if (options.participant) controllers.push(UncoordinatedApplyController);
    const env = (config: ServiceConfig) => environmentOf(config, ThreePhaseCommitEnvironment);

    const providers: NonNullable<DynamicModule['providers']> = [
      ...extraProviders,
      {
        provide: MetricsTransactionObserver,
        inject: [MetricsRegistry],
        useFactory: (metrics: MetricsRegistry) => new MetricsTransactionObserver(metrics),
      },
      PeerPoolsLifecycle,
      RecoveryLoops,
    ];
    const loopDeps: unknown[] = [SERVICE_CONFIG, ROOT_LOGGER];
    if (coordinating) {
      providers.push(
        {
          provide: PostgresThreePhaseLog,
          inject: [Database, SERVICE_CONFIG],
          // The lease a live coordinator holds on a transaction it is driving: about its inline PreCommit
          // round. Past it, recovery (here or on a replica, or after a restart) may drive it too — safely,
          // every step being idempotent — so a dead coordinator's transactions are taken up soon.
          useFactory: (db: Database, config: ServiceConfig) =>
            new PostgresThreePhaseLog(db, env(config).TX_VOTE_TIMEOUT_MS * 3),
        },
        { provide: TRANSACTION_BROWSER, useExisting: PostgresThreePhaseLog },
        transactionBrowser('3pc', [PostgresThreePhaseLog], (log: PostgresThreePhaseLog) => log),
        {
          provide: ThreePhaseCoordinator,
          inject: [SERVICE_CONFIG, PostgresThreePhaseLog, MetricsTransactionObserver, ROOT_LOGGER],
          useFactory: (
            config: ServiceConfig,
            log: PostgresThreePhaseLog,
            observer: MetricsTransactionObserver,
            logger: Logger,
          ) => {
            const { TX_VOTE_TIMEOUT_MS } = env(config);
            const clients = clientsOf(config, options.participants ?? [], TX_VOTE_TIMEOUT_MS * 2);
            return new ThreePhaseCoordinator(
              log,
              [...clients.values()],
              {
                name: config.service.name,
                voteTimeoutMs: TX_VOTE_TIMEOUT_MS,
                callTimeoutMs: TX_VOTE_TIMEOUT_MS,
                points: faultPoints(config),
              },
              observer,
              protocolLogger(logger),
            );
          },
        },
      );
      loopDeps.push(ThreePhaseCoordinator);
    }
    if (options.participant) {
      providers.push(UncoordinatedApplyEnabled);
      providers.push({
        provide: ThreePhaseParticipant,
        inject: [SERVICE_CONFIG, Database, THREE_PHASE_BRANCH_WORK, MetricsTransactionObserver, ROOT_LOGGER],
        useFactory: (
          config: ServiceConfig,
          db: Database,
          work: BranchWork<Session>,
          observer: MetricsTransactionObserver,
          logger: Logger,
        ) => {
          const settings = env(config);
          const resource = new PostgresPreparedResource(db, 5_000, '3pc');
          // Peers are reached at the service's configured URLs, never at an address from a request.
          const peerNames = Object.keys(config.peers);
          const peers = clientsOf(config, peerNames, settings.TX_VOTE_TIMEOUT_MS);
          return new ThreePhaseParticipant<Session>(
            resource,
            new PostgresThreePhaseStates(db, resource),
            (peer) => peers.get(peer),
            work,
            {
              name: config.service.name,
              uncertainTimeoutMs: settings.TX_3PC_UNCERTAIN_TIMEOUT_MS,
              precommitTimeoutMs: settings.TX_3PC_PRECOMMIT_TIMEOUT_MS,
              termination: settings.TX_3PC_TERMINATION,
              points: faultPoints(config),
            },
            observer,
            protocolLogger(logger),
          );
        },
      });
      loopDeps.push(ThreePhaseParticipant);
    }
    providers.push({
      provide: RECOVERY_LOOPS,
      inject: loopDeps as never[],
      useFactory: (
        config: ServiceConfig,
        logger: Logger,
        ...cores: (ThreePhaseCoordinator | ThreePhaseParticipant<Session>)[]
      ) =>
        cores.map((core) =>
          core instanceof ThreePhaseCoordinator
            ? new RecoveryLoop(
                '3pc-coordinator',
                () => core.recover(),
                env(config).TX_RECOVERY_INTERVAL_MS,
                logger,
              )
            : new RecoveryLoop('3pc-participant', () => core.sweep(), env(config).TX_3PC_SWEEP_MS, logger),
        ),
    });
    return {
      module: ThreePhaseCommitModule,
      // A coordinator lists its log at `/api/transactions`; a participant alone keeps none.
      imports: coordinating ? [ServiceAuthModule, TransactionsApiModule] : [ServiceAuthModule],
      controllers,
      providers,
      exports: coordinating ? [ThreePhaseCoordinator, RecoveryLoops] : [RecoveryLoops],
    };
  }
}
