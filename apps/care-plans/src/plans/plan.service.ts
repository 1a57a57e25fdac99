import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { CarePlan } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { FhirResourceStore, type FhirWriteContext, type Stored } from '@hospital/fhir';
import { Database, ROOT_LOGGER, SERVICE_CONFIG, withGtid } from '@hospital/platform';
import { GTID_HEADER } from '@hospital/transactions';
import type { CarePlansConfig } from '../config';
import { PlanChecks } from './plan-checks';
import { PlanEngines, type PlanOutcome } from './plan-engines';
import { planRequestOf } from './plan-request';
import { PlanErrorCode, PlanException } from './plans.exception';
import { type PlanInput, reservationsOf } from './treatment-plan';
import { transactionModeOf, type TransactionMode } from './transaction-mode';

/**
 * Creating a treatment plan: the request is checked whole first (its shape, its care team, every resource
 * at its participant) so a bad plan is refused before anything is reserved; then the plan's transaction
 * runs in the mode the request chose. The answer carries the gtid (`x-gtid`): 201 with the active plan, or
 * a 409 naming the step a participant refused, the revoked plan at `Location`.
 */
@Injectable()
export class PlanService {
  private readonly defaultMode: TransactionMode;

  constructor(
    @Inject(SERVICE_CONFIG) config: CarePlansConfig,
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(PlanChecks) private readonly checks: PlanChecks,
    @Inject(PlanEngines) private readonly engines: PlanEngines,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {
    this.defaultMode = config.env.CARE_PLAN_DEFAULT_MODE;
  }

  async create(carePlan: CarePlan, context: FhirWriteContext): Promise<Stored<CarePlan>> {
    const mode = transactionModeOf(context.request, this.defaultMode);
    const request = planRequestOf(carePlan);
    const reservations = reservationsOf(request);
    await this.checks.assertBookable(request, reservations);
    const input: PlanInput = {
      planId: randomUUID(),
      mode,
      careTeamId: request.careTeamId,
      carePlan,
      reservations,
    };
    const outcome = await this.engines.run(input, context.correlationId);
    context.setHeader?.(GTID_HEADER, outcome.gtid);
    return withGtid(outcome.gtid, () => this.answer(input, outcome, context));
  }

  private async answer(
    input: PlanInput,
    outcome: PlanOutcome,
    context: FhirWriteContext,
  ): Promise<Stored<CarePlan>> {
    const { planId, mode } = input;
    const fields = { gtid: outcome.gtid, planId, mode };
    switch (outcome.status) {
      case 'active':
        this.logger.info(fields, 'care plan booked');
        return this.store.read<CarePlan>(this.db, 'CarePlan', planId);
      case 'revoked': {
        this.logger.info({ ...fields, failedStep: outcome.failedStep }, 'care plan refused');
        context.setHeader?.('Location', `${context.baseUrl}/CarePlan/${planId}`);
        const still = outcome.settled ? 'was revoked' : 'is being revoked (recovery gives back the rest)';
        throw new PlanException(
          PlanErrorCode.PlanRefused,
          `CarePlan/${planId} ${still}: step ${outcome.failedStep} failed (${outcome.reason})`,
          this.elementsOf(input, outcome.failedStep),
        );
      }
      case 'unsettled':
        this.logger.warn(fields, 'care plan left to recovery');
        context.setHeader?.('Location', `${context.baseUrl}/CarePlan/${planId}`);
        throw new PlanException(
          PlanErrorCode.PlanUnsettled,
          `CarePlan/${planId} (transaction ${outcome.gtid}) was left to recovery: read it for its outcome rather than posting it again`,
          ['CarePlan'],
        );
    }
  }

  /** The activities a failed step reserves for (the whole plan for `plan`, `hold` or `activate`). */
  private elementsOf(input: PlanInput, step: string): string[] {
    const reservations = (
      input.reservations as Record<string, PlanInput['reservations']['consults'] | undefined>
    )[step];
    if (reservations === undefined || reservations.length === 0) return ['CarePlan'];
    return reservations.map((r) => `CarePlan.activity[${r.activity}]`);
  }
}
