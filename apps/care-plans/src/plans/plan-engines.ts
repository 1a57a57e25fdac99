import { hostname } from 'node:os';
import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { Database, MetricsRegistry, ROOT_LOGGER, SERVICE_CONFIG } from '@hospital/platform';
import {
  faultPoints,
  MetricsTransactionObserver,
  PostgresSagaLog,
  PostgresTccLog,
  protocolLogger,
  RecoveryLoop,
  SagaOrchestrator,
  SagaUnfinishedError,
  TccCoordinator,
  TccUnfinishedError,
  type SagaWorkflow,
  type TccWorkflow,
} from '@hospital/transactions';
import { type CarePlansConfig, PLAN_RETRY_MAX_MS } from '../config';
import { CapacityClient } from './capacity.client';
import { PlanLedger } from './plan-ledger';
import { quotaSagaWorkflow, sagaWorkflow, tccWorkflow, type PlanWorkflowDeps } from './plan-workflows';
import { PlanRepository } from './plan.repository';
import type { PlanInput } from './treatment-plan';

/** How a plan's transaction ended, as far as the request that started it can tell. */
export type PlanOutcome =
  | { gtid: string; status: 'active' }
  | {
      gtid: string;
      status: 'revoked';
      /** The step (saga) or branch (TCC) that failed: `plan`, a stage, `hold`. */
      failedStep: string;
      reason: string;
      /** False while recovery still gives reservations back (the outcome is final either way). */
      settled: boolean;
    }
  /** Left to recovery (its log failed, it was taken over, or its Confirms are still retried). */
  | { gtid: string; status: 'unsettled' };

/**
 * The saga orchestrator (both saga modes) and the TCC coordinator of the service, over their PostgreSQL
 * logs in its database, with the three treatment-plan workflows, the fault points of FAULT_KILL_AT, the
 * transaction metrics, and a recovery sweep of each every TX_RECOVERY_INTERVAL_MS (at start-up too): any
 * replica finishes the plans a crashed one left, forward or back.
 */
@Injectable()
export class PlanEngines implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly sagas: SagaOrchestrator;
  readonly tcc: TccCoordinator;
  private readonly workflows: {
    saga: SagaWorkflow<PlanInput>;
    quotaSaga: SagaWorkflow<PlanInput>;
    tcc: TccWorkflow<PlanInput>;
  };
  private readonly loops: RecoveryLoop[];

  constructor(
    @Inject(SERVICE_CONFIG) config: CarePlansConfig,
    @Inject(Database) private readonly db: Database,
    @Inject(PlanLedger) ledger: PlanLedger,
    @Inject(CapacityClient) capacity: CapacityClient,
    @Inject(PlanRepository) private readonly plans: PlanRepository,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    const sagaLog = new PostgresSagaLog(db);
    const tccLog = new PostgresTccLog(db);
    const deps: PlanWorkflowDeps = {
      ledger,
      capacity,
      sagaReasons: async (gtid) => (await sagaLog.get(gtid))?.reason,
      tccReasons: async (gtid) => (await tccLog.get(gtid))?.reason,
    };
    this.workflows = { saga: sagaWorkflow(deps), quotaSaga: quotaSagaWorkflow(deps), tcc: tccWorkflow(deps) };
    const env = config.env;
    const name = `${config.service.name}@${hostname()}:${process.pid}`;
    const common = {
      name,
      leaseMs: env.CARE_PLAN_LEASE_MS,
      retryBaseMs: 100,
      retryMaxMs: PLAN_RETRY_MAX_MS,
      points: faultPoints(config),
    };
    const observer = new MetricsTransactionObserver(metrics);
    const log = protocolLogger(logger);
    this.sagas = new SagaOrchestrator(
      sagaLog,
      [this.workflows.saga, this.workflows.quotaSaga] as SagaWorkflow<unknown>[],
      { ...common, stepTimeoutMs: env.CARE_PLAN_CALL_TIMEOUT_MS },
      observer,
      log,
    );
    this.tcc = new TccCoordinator(
      tccLog,
      [this.workflows.tcc] as TccWorkflow<unknown>[],
      { ...common, callTimeoutMs: env.CARE_PLAN_CALL_TIMEOUT_MS },
      observer,
      log,
    );
    this.loops = [
      new RecoveryLoop('care-plan-sagas', () => this.sagas.recover(), env.TX_RECOVERY_INTERVAL_MS, logger),
      new RecoveryLoop('care-plan-tcc', () => this.tcc.recover(), env.TX_RECOVERY_INTERVAL_MS, logger),
    ];
  }

  onApplicationBootstrap(): void {
    for (const loop of this.loops) loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.loops.map((loop) => loop.stop()));
  }

  /** One recovery sweep of both engines now (tests, operators). */
  async recoverNow(): Promise<void> {
    await Promise.all(this.loops.map((loop) => loop.runOnce()));
  }

  /** Runs the plan's transaction in its mode, to its outcome or until it is left to recovery. */
  async run(input: PlanInput, correlationId?: string): Promise<PlanOutcome> {
    const options = correlationId === undefined ? {} : { correlationId };
    try {
      if (input.mode === 'tcc') {
        const result = await this.tcc.run(this.workflows.tcc, input, options);
        if (result.outcome === 'cancelled') {
          const { gtid, failedBranch, reason, settled } = result;
          return { gtid, status: 'revoked', failedStep: failedBranch, reason, settled };
        }
        // Confirmed: the plan's own branch may be settled while another participant's Confirm is retried.
        const row = await this.plans.find(this.db, input.planId);
        return { gtid: result.gtid, status: row?.status === 'active' ? 'active' : 'unsettled' };
      }
      const workflow = input.mode === 'saga' ? this.workflows.saga : this.workflows.quotaSaga;
      const result = await this.sagas.start(workflow, input, options);
      if (result.outcome === 'completed') return { gtid: result.gtid, status: 'active' };
      const { gtid, failedStep, reason, compensated } = result;
      return { gtid, status: 'revoked', failedStep, reason, settled: compensated };
    } catch (error) {
      if (error instanceof SagaUnfinishedError || error instanceof TccUnfinishedError)
        return { gtid: error.gtid, status: 'unsettled' };
      throw error;
    }
  }
}
