import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { News2Parameter, News2Risk } from '../news2/news2';

/**
 * A row of `icu_news2_state` (migration IcuMonitorTables1765000000000): the NEWS2 score last recorded for a
 * patient, the RiskAssessment that recorded it, and the Flag open at each escalation level (null: none).
 */
@Entity('icu_news2_state')
export class News2StateEntity {
  @PrimaryColumn({ name: 'patient_id', type: 'text' })
  patientId!: string;

  @Column({ type: 'integer' })
  total!: number;

  @Column({ type: 'jsonb' })
  parameters!: Partial<Record<News2Parameter, number>>;

  @Column({ type: 'text' })
  risk!: News2Risk;

  @Column({ name: 'assessment_id', type: 'text' })
  assessmentId!: string;

  @Column({ name: 'urgent_flag_id', type: 'text', nullable: true })
  urgentFlagId!: string | null;

  @Column({ name: 'emergency_flag_id', type: 'text', nullable: true })
  emergencyFlagId!: string | null;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
