import { Column, Entity, PrimaryColumn } from 'typeorm';

export type BookingStatus = 'booked' | 'cancelled';

/**
 * A row of `appointment_booking` (migration AppointmentsTables1765100000000): an Appointment and the slot
 * it holds. The partial unique index `appointment_booking_active_slot` lets one booking that is not
 * cancelled hold a slot: the database, not a check before the insert, refuses a double booking.
 */
@Entity('appointment_booking')
export class BookingEntity {
  @PrimaryColumn({ name: 'appointment_id', type: 'text' })
  appointmentId!: string;

  @Column({ name: 'slot_id', type: 'text' })
  slotId!: string;

  @Column({ name: 'patient_id', type: 'text' })
  patientId!: string;

  @Column({ name: 'practitioner_id', type: 'text' })
  practitionerId!: string;

  @Column({ type: 'text' })
  status!: BookingStatus;

  @Column({ name: 'booked_at', type: 'timestamptz', default: () => 'now()' })
  bookedAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
