import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { FhirResourceStore } from '@hospital/fhir';
import { Database, ROOT_LOGGER, type Session } from '@hospital/platform';
import { type NewOutboxEvent, Outbox } from '@hospital/transactions';
import { type PlanLedgerPort, PlanRevokedError } from './plan-ports';
import { planResource } from './plan-resource';
import type { PlanEntity } from './plan.entity';
import { PlanRepository } from './plan.repository';
import type { PlanInput } from './treatment-plan';

/** The longest revocation reason kept (a step and a participant's answer). */
const MAX_REASON = 500;

/**
 * The plan's own record: the `care_plan` row and the FHIR CarePlan, written together in one local
 * transaction by each of the plan's steps. The row, locked by each step, is their barrier (see
 * PlanLedgerPort); the activation also appends the quota-cached saga's completion events in its
 * transaction, so they leave if and only if the plan became active.
 */
@Injectable()
export class PlanLedger implements PlanLedgerPort {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(PlanRepository) private readonly plans: PlanRepository,
    @Inject(Outbox) private readonly outbox: Outbox,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {}

  async recordDraft(input: PlanInput, gtid: string): Promise<void> {
    await this.db.transaction((tx) => this.recordDraftIn(tx, input, gtid));
  }

  /** `recordDraft` in the caller's transaction (the quota-cached saga's begin). */
  async recordDraftIn(tx: Session, input: PlanInput, gtid: string): Promise<void> {
    if (await this.plans.insertIfAbsent(tx, this.row(input, gtid, 'draft', null))) {
      await this.store.create(tx, planResource(input, gtid, 'draft'), { id: input.planId });
      return;
    }
    const row = await this.recorded(tx, input, gtid);
    if (row.status === 'revoked') throw new PlanRevokedError(input.planId);
  }

  async activate(input: PlanInput, gtid: string, events: readonly NewOutboxEvent[]): Promise<void> {
    if (await this.db.transaction((tx) => this.activateIn(tx, input, gtid, events)))
      this.activated(input, gtid);
  }

  /**
   * `activate` in the caller's transaction (the quota-cached saga's completion); true when it activated
   * now. The caller calls `activated` after its commit.
   */
  async activateIn(
    tx: Session,
    input: PlanInput,
    gtid: string,
    events: readonly NewOutboxEvent[],
  ): Promise<boolean> {
    const row = await this.recorded(tx, input, gtid);
    if (row.status === 'active') return false;
    if (row.status === 'revoked') {
      // The protocols never activate a revoked plan: refused, visibly, and retried until someone looks.
      throw new Error(`CarePlan/${input.planId} is revoked: it cannot become active`);
    }
    await this.plans.setStatus(tx, input.planId, 'active');
    await this.store.update(tx, planResource(input, gtid, 'active'));
    if (events.length > 0) await this.outbox.append(tx, events);
    return true;
  }

  /** After an activation committed: the relays woken for its events, the activation logged. */
  activated(input: PlanInput, gtid: string): void {
    this.outbox.notify();
    this.logger.info({ gtid, planId: input.planId, mode: input.mode }, 'care plan active');
  }

  async revoke(input: PlanInput, gtid: string, reason: string | undefined): Promise<void> {
    if (await this.db.transaction((tx) => this.revokeIn(tx, input, gtid, reason)))
      this.logger.info({ gtid, planId: input.planId, mode: input.mode }, 'care plan revoked');
  }

  /** `revoke` in the caller's transaction (the quota-cached saga's abort); true when it revoked now. */
  async revokeIn(tx: Session, input: PlanInput, gtid: string, reason: string | undefined): Promise<boolean> {
    const why = reason?.slice(0, MAX_REASON) ?? null;
    if (await this.plans.insertIfAbsent(tx, this.row(input, gtid, 'revoked', why))) {
      // Revoked before its draft was ever recorded: this row refuses a draft that would come later.
      await this.store.create(tx, planResource(input, gtid, 'revoked', why ?? undefined), {
        id: input.planId,
      });
      return true;
    }
    const row = await this.recorded(tx, input, gtid);
    if (row.status === 'revoked') return false;
    if (row.status === 'active') {
      throw new Error(`CarePlan/${input.planId} is active: its activation is never undone`);
    }
    await this.plans.setStatus(tx, input.planId, 'revoked', why);
    await this.store.update(tx, planResource(input, gtid, 'revoked', why ?? undefined));
    return true;
  }

  async assertNotActive(input: PlanInput, gtid: string): Promise<void> {
    const row = await this.plans.find(this.db, input.planId);
    if (row?.status === 'active') {
      throw new Error(`CarePlan/${input.planId} of ${gtid} is active: its activation is never undone`);
    }
  }

  private row(input: PlanInput, gtid: string, status: PlanEntity['status'], reason: string | null) {
    return { planId: input.planId, gtid, mode: input.mode, status, careTeamId: input.careTeamId, reason };
  }

  /** The plan's row, locked; it must belong to this transaction (plan ids are minted per plan). */
  private async recorded(tx: Session, input: PlanInput, gtid: string): Promise<PlanEntity> {
    const row = await this.plans.findLocked(tx, input.planId);
    if (row === undefined) throw new Error(`CarePlan/${input.planId} is not recorded`);
    if (row.gtid !== gtid) throw new Error(`CarePlan/${input.planId} belongs to another transaction`);
    return row;
  }
}
