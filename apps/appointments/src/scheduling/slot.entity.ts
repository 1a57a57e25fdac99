import { Column, Entity, PrimaryColumn } from 'typeorm';

export type SlotStatus = 'free' | 'busy';

/**
 * A row of `appointment_slot` (migration AppointmentsTables1765100000000): a slot of a schedule, with the
 * schedule's practitioner and the slot's service code copied for the free-slot search. The exclusion
 * constraint `appointment_slot_no_overlap` keeps the slots of one schedule apart.
 */
@Entity('appointment_slot')
export class SlotEntity {
  @PrimaryColumn({ name: 'slot_id', type: 'text' })
  slotId!: string;

  @Column({ name: 'schedule_id', type: 'text' })
  scheduleId!: string;

  @Column({ name: 'practitioner_id', type: 'text' })
  practitionerId!: string;

  @Column({ name: 'service_code', type: 'text' })
  serviceCode!: string;

  @Column({ name: 'start_at', type: 'timestamptz' })
  startAt!: Date;

  @Column({ name: 'end_at', type: 'timestamptz' })
  endAt!: Date;

  @Column({ type: 'text' })
  status!: SlotStatus;
}
