import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { Consciousness, News2Parameter } from '../news2/news2';

/**
 * A row of `icu_latest_vital` (migration IcuMonitorTables1765000000000): a patient's latest reading of one
 * NEWS2 parameter. `value` for the numeric parameters (the O2 flow rate in L/min for `onOxygen`), `code`
 * for consciousness.
 */
@Entity('icu_latest_vital')
export class LatestVitalEntity {
  @PrimaryColumn({ name: 'patient_id', type: 'text' })
  patientId!: string;

  @PrimaryColumn({ type: 'text' })
  parameter!: News2Parameter;

  @Column({ type: 'double precision', nullable: true })
  value!: number | null;

  @Column({ type: 'text', nullable: true })
  code!: Consciousness | null;

  @Column({ name: 'effective_at', type: 'timestamptz' })
  effectiveAt!: Date;

  @Column({ name: 'observation_id', type: 'text' })
  observationId!: string;
}
