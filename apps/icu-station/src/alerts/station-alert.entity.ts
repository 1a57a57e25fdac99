import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { News2AlertLevel, News2FlagLevel } from '@hospital/fhir';

/** How an alert reached the station. */
export type AlertVia = 'push' | 'reconciliation';

/** A row of `icu_station_alert` (migration IcuStationTables1765100000000): one alert transition received. */
@Entity('icu_station_alert')
export class StationAlertEntity {
  /** bigint: read as text, so no precision is lost. */
  @PrimaryGeneratedColumn({ name: 'seq', type: 'bigint' })
  seq!: string;

  @Column({ name: 'idempotency_key', type: 'text', unique: true })
  idempotencyKey!: string;

  @Column({ name: 'alert_id', type: 'text' })
  alertId!: string;

  @Column({ name: 'level', type: 'text' })
  level!: News2AlertLevel;

  @Column({ name: 'flag_level', type: 'text' })
  flagLevel!: News2FlagLevel;

  @Column({ name: 'bed_id', type: 'text' })
  bedId!: string;

  @Column({ name: 'patient_id', type: 'text' })
  patientId!: string;

  @Column({ name: 'assessment_id', type: 'text' })
  assessmentId!: string;

  @Column({ name: 'news2_total', type: 'integer' })
  news2Total!: number;

  @Column({ name: 'effective_at', type: 'timestamptz' })
  effectiveAt!: Date;

  @Column({ name: 'received_at', type: 'timestamptz', default: () => 'now()' })
  receivedAt!: Date;

  @Column({ name: 'via', type: 'text' })
  via!: AlertVia;
}
