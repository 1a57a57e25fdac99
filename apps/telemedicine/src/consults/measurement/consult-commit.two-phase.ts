import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import {
  Database,
  environmentOf,
  MetricsRegistry,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  serviceCredentials,
  type Session,
  ThreePhaseCommitEnvironment,
} from '@hospital/platform';
import {
  faultPoints,
  HttpThreePhaseClient,
  MetricsTransactionObserver,
  PostgresTwoPhaseLog,
  protocolLogger,
  TwoPhaseCoordinator,
} from '@hospital/transactions';
import type { TelemedicineConfig } from '../../config';
import { CONSULT_PARTICIPANTS, type ConsultBranch, type ConsultCommit } from '../consult-commit.port';
import { ThreePhaseBranchClient } from './three-phase-branch.client';

/**
 * Measurement only (`?_mode=2pc`): the consult completion by two-phase commit over the same three
 * participants, through their 3PC routes without PreCommit (`ThreePhaseBranchClient`). Telemedicine runs
 * the library's `TwoPhaseCoordinator` with its decision log in its own `tx_global` (style `2pc`).
 * Presumed abort holds on the coordinator's side, but the participants never ask it about a branch: their
 * 3PC uncertain time-out ends one left prepared too long, so a coordinator that stalls past it can split
 * the outcome. For `npm run bench -- 3pc`, never for production.
 */
@Injectable()
export class TwoPhaseConsultCommit implements ConsultCommit, OnApplicationShutdown {
  private readonly coordinator: TwoPhaseCoordinator<Session>;

  constructor(
    @Inject(SERVICE_CONFIG) config: TelemedicineConfig,
    @Inject(Database) db: Database,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    const { TX_VOTE_TIMEOUT_MS } = environmentOf(config, ThreePhaseCommitEnvironment);
    const name = config.service.name;
    const credentials = serviceCredentials(config);
    const clients = CONSULT_PARTICIPANTS.map((participant) => {
      const url = config.peers[participant];
      if (!url) throw new Error(`no URL configured for consult participant '${participant}'`);
      const branch = new HttpThreePhaseClient(participant, url, credentials, TX_VOTE_TIMEOUT_MS * 2);
      return new ThreePhaseBranchClient(branch, name);
    });
    this.coordinator = new TwoPhaseCoordinator<Session>(
      new PostgresTwoPhaseLog(db),
      clients,
      {
        name,
        voteTimeoutMs: TX_VOTE_TIMEOUT_MS,
        callTimeoutMs: TX_VOTE_TIMEOUT_MS,
        points: faultPoints(config),
      },
      new MetricsTransactionObserver(metrics),
      protocolLogger(logger),
    );
  }

  async commit(gtid: string, branches: ConsultBranch[], correlationId?: string): Promise<void> {
    await this.coordinator.execute({ gtid, branches, ...(correlationId ? { correlationId } : {}) });
  }

  onApplicationShutdown(): Promise<void> {
    return this.coordinator.stop();
  }
}
