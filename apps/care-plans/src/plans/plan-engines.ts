import { hostname } from 'node:os';
import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { Database, MetricsRegistry, ROOT_LOGGER, SERVICE_CONFIG, type Session } from '@hospital/platform';
import {
  faultPoints,
  MetricsTransactionObserver,
  newGtid,
  PostgresQuotaSagaLog,
  PostgresSagaLog,
  PostgresTccLog,
  protocolLogger,
  QuotaSagaCoordinator,
  quotaCompletionMessages,
  QuotaSagaUnfinishedError,
  RecoveryLoop,
  SagaOrchestrator,
  SagaUnfinishedError,
  TccCoordinator,
  TccUnfinishedError,
  type QuotaSagaRecord,
  type SagaWorkflow,
  type TccWorkflow,
} from '@hospital/transactions';
import { type CarePlansConfig, PLAN_RETRY_MAX_MS } from '../config';
import { CapacityClient } from './capacity.client';
import { PlanLedger } from './plan-ledger';
import {
  quotaParticipants,
  quotaSteps,
  sagaWorkflow,
  tccWorkflow,
  type PlanWorkflowDeps,
} from './plan-workflows';
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
 * The saga orchestrator, the quota-cached saga's coordinator and the TCC coordinator of the service, over
 * their PostgreSQL logs in its database, with the treatment plan in each mode, the fault points of
 * FAULT_KILL_AT, the transaction metrics, and a recovery sweep of each every TX_RECOVERY_INTERVAL_MS (at
 * start-up too): any replica finishes the plans a crashed one left, forward or back.
 */
@Injectable()
export class PlanEngines implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly sagas: SagaOrchestrator;
  readonly tcc: TccCoordinator;
  readonly quotaSagas: QuotaSagaCoordinator<Session>;
  private readonly workflows: {
    saga: SagaWorkflow<PlanInput>;
    tcc: TccWorkflow<PlanInput>;
  };
  private readonly loops: RecoveryLoop[];

  private readonly ledger: PlanLedger;

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
    this.workflows = { saga: sagaWorkflow(deps), tcc: tccWorkflow(deps) };
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
      [this.workflows.saga] as SagaWorkflow<unknown>[],
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
    // The quota-cached saga: the plan's draft is written with the saga's begin, its activation and the
    // completion events with the saga's completion, its revocation with the abort — each one transaction.
    const input = (saga: QuotaSagaRecord) => saga.input as PlanInput;
    this.quotaSagas = new QuotaSagaCoordinator<Session>(
      new PostgresQuotaSagaLog(db),
      quotaParticipants(capacity),
      {
        started: (tx, saga) => ledger.recordDraftIn(tx, input(saga), saga.gtid),
        completed: async (tx, saga, reservations) => {
          await ledger.activateIn(
            tx,
            input(saga),
            saga.gtid,
            quotaCompletionMessages(saga.gtid, reservations),
          );
        },
        aborted: async (tx, saga, reason) => {
          await ledger.revokeIn(tx, input(saga), saga.gtid, reason);
        },
      },
      { name, leaseMs: env.CARE_PLAN_LEASE_MS, points: common.points },
    );
    this.loops = [
      new RecoveryLoop('care-plan-sagas', () => this.sagas.recover(), env.TX_RECOVERY_INTERVAL_MS, logger),
      new RecoveryLoop('care-plan-tcc', () => this.tcc.recover(), env.TX_RECOVERY_INTERVAL_MS, logger),
      new RecoveryLoop(
        'care-plan-quota-sagas',
        () => this.quotaSagas.recover(),
        env.TX_RECOVERY_INTERVAL_MS,
        logger,
      ),
    ];
    this.ledger = ledger;
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
      if (input.mode === 'quota-saga') return await this.runQuotaSaga(input, correlationId);
      const result = await this.sagas.start(this.workflows.saga, input, options);
      if (result.outcome === 'completed') return { gtid: result.gtid, status: 'active' };
      const { gtid, failedStep, reason, compensated } = result;
      return { gtid, status: 'revoked', failedStep, reason, settled: compensated };
    } catch (error) {
      if (
        error instanceof SagaUnfinishedError ||
        error instanceof TccUnfinishedError ||
        error instanceof QuotaSagaUnfinishedError
      )
        return { gtid: error.gtid, status: 'unsettled' };
      throw error;
    }
  }

  private async runQuotaSaga(input: PlanInput, correlationId: string | undefined): Promise<PlanOutcome> {
    const gtid = newGtid();
    const result = await this.quotaSagas.run({
      gtid,
      input,
      steps: quotaSteps(input),
      ...(correlationId === undefined ? {} : { correlationId }),
    });
    if (result.outcome === 'completed') {
      this.ledger.activated(input, gtid);
      return { gtid, status: 'active' };
    }
    // A step is named after its stage (`consults:0` → `consults`), as the other modes name their failures.
    const failedStep = result.failedStep?.split(':')[0] ?? 'plan';
    return { gtid, status: 'revoked', failedStep, reason: result.reason, settled: true };
  }
}
