import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { TransactionMode } from './transaction-mode';

export type PlanStatus = 'draft' | 'active' | 'revoked';

/**
 * A row of `care_plan` (migration CarePlansTables1765600000000): a treatment plan's status and the saga
 * or TCC transaction that books it, beside its FHIR CarePlan.
 */
@Entity('care_plan')
export class PlanEntity {
  @PrimaryColumn({ name: 'plan_id', type: 'text' })
  planId!: string;

  @Column({ type: 'text' })
  gtid!: string;

  @Column({ type: 'text' })
  mode!: TransactionMode;

  @Column({ type: 'text' })
  status!: PlanStatus;

  @Column({ name: 'care_team_id', type: 'text' })
  careTeamId!: string;

  @Column({ type: 'text', nullable: true })
  reason!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
