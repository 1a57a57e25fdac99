import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A row of `icu_station_cursor`: where reconciliation with a source resumes. */
@Entity('icu_station_cursor')
export class StationCursorEntity {
  @PrimaryColumn({ name: 'source', type: 'text' })
  source!: string;

  @Column({ name: 'cursor', type: 'text' })
  cursor!: string;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
