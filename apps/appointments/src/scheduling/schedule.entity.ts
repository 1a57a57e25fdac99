import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A row of `appointment_schedule` (migration AppointmentsTables1765100000000): a practitioner's Schedule,
 * its planning horizon and the codes of the service types it offers. Written once, with the Schedule.
 */
@Entity('appointment_schedule')
export class ScheduleEntity {
  @PrimaryColumn({ name: 'schedule_id', type: 'text' })
  scheduleId!: string;

  @Column({ name: 'practitioner_id', type: 'text' })
  practitionerId!: string;

  @Column({ name: 'service_codes', type: 'text', array: true })
  serviceCodes!: string[];

  @Column({ name: 'horizon_start', type: 'timestamptz' })
  horizonStart!: Date;

  @Column({ name: 'horizon_end', type: 'timestamptz' })
  horizonEnd!: Date;
}
