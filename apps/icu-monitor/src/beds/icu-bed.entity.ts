import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { Spo2Scale } from '../news2/news2';

/**
 * A row of `icu_bed` (migration IcuMonitorTables1765000000000): a bed place of the unit and the patient
 * admitted to it, with the SpO2 scale NEWS2 scores them on. All three are null while the bed is empty.
 */
@Entity('icu_bed')
export class IcuBedEntity {
  @PrimaryColumn({ name: 'bed_id', type: 'text' })
  bedId!: string;

  @Column({ name: 'patient_id', type: 'text', nullable: true })
  patientId!: string | null;

  @Column({ name: 'spo2_scale', type: 'smallint', nullable: true })
  spo2Scale!: Spo2Scale | null;

  @Column({ name: 'admitted_at', type: 'timestamptz', nullable: true })
  admittedAt!: Date | null;
}
