import { Injectable } from '@nestjs/common';
import type { EntityExecutor } from '@hospital/platform';
import { PlanEntity, type PlanStatus } from './plan.entity';

/** A plan row as first written: a draft, or revoked when its revocation came first. */
export type NewPlanRow = Pick<PlanEntity, 'planId' | 'gtid' | 'mode' | 'status' | 'careTeamId' | 'reason'>;

/** `care_plan` through its TypeORM entity, on the session of the plan step's local transaction. */
@Injectable()
export class PlanRepository {
  /**
   * Inserts the row unless the plan is recorded (ON CONFLICT DO NOTHING: a concurrent insert of the same
   * plan is waited for, then skipped); true when this call inserted it.
   */
  async insertIfAbsent(exec: EntityExecutor, row: NewPlanRow): Promise<boolean> {
    const result = await exec
      .repository(PlanEntity)
      .createQueryBuilder()
      .insert()
      .values(row)
      .orIgnore()
      .returning(['planId'])
      .updateEntity(false)
      .execute();
    return (result.raw as unknown[]).length > 0;
  }

  /** The plan's row, locked until the transaction ends: its steps take turns. */
  async findLocked(exec: EntityExecutor, planId: string): Promise<PlanEntity | undefined> {
    const row = await exec
      .repository(PlanEntity)
      .findOne({ where: { planId }, lock: { mode: 'pessimistic_write' } });
    return row ?? undefined;
  }

  async find(exec: EntityExecutor, planId: string): Promise<PlanEntity | undefined> {
    return (await exec.repository(PlanEntity).findOneBy({ planId })) ?? undefined;
  }

  async setStatus(
    exec: EntityExecutor,
    planId: string,
    status: PlanStatus,
    reason: string | null = null,
  ): Promise<void> {
    await exec.repository(PlanEntity).update({ planId }, { status, reason, updatedAt: () => 'now()' });
  }
}
