import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The appointments service's own tables: the relational copy of what booking must get right, kept beside
 * the FHIR resources (`Schedule`, `Slot`, `Appointment` in the FHIR store) in the same local transactions.
 *
 * - `appointment_schedule`: a practitioner's schedule, its planning horizon and the service types (codes)
 *   it offers. Schedules are created, never changed, so a slot checked against its horizon stays inside.
 * - `appointment_slot`: a bookable interval of a schedule, `free` or `busy`. `end_at > start_at` is a
 *   CHECK, and two slots of one schedule never overlap: an exclusion constraint over
 *   `(schedule_id, tstzrange(start_at, end_at))` (`btree_gist` gives `=` on text a GiST operator class).
 *   Ranges are half-open, so a slot may start where the previous one ends. The practitioner and the
 *   service code are copied from the schedule and the Slot so that free slots are searched in one table.
 * - `appointment_booking`: one row per Appointment, holding its slot while its status is not
 *   `cancelled`. **No double booking** is the partial unique index `appointment_booking_active_slot`:
 *   at most one booking that is not cancelled per slot, whatever the concurrency — a second transaction
 *   inserting (or moving a booking to) the same slot waits for the first and then fails with a unique
 *   violation. A rescheduled booking keeps its row and changes its `slot_id` under the same index.
 */
export class AppointmentsTables1765100000000 implements MigrationInterface {
  name = 'AppointmentsTables1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE EXTENSION IF NOT EXISTS btree_gist');
    await q.query(`
      CREATE TABLE appointment_schedule (
        schedule_id     text PRIMARY KEY,
        practitioner_id text NOT NULL,
        service_codes   text[] NOT NULL CHECK (cardinality(service_codes) > 0),
        horizon_start   timestamptz NOT NULL,
        horizon_end     timestamptz NOT NULL,
        CHECK (horizon_end > horizon_start)
      )`);
    await q.query(`
      CREATE TABLE appointment_slot (
        slot_id         text PRIMARY KEY,
        schedule_id     text NOT NULL REFERENCES appointment_schedule (schedule_id),
        practitioner_id text NOT NULL,
        service_code    text NOT NULL,
        start_at        timestamptz NOT NULL,
        end_at          timestamptz NOT NULL,
        status          text NOT NULL CHECK (status IN ('free', 'busy')),
        CHECK (end_at > start_at),
        CONSTRAINT appointment_slot_no_overlap
          EXCLUDE USING gist (schedule_id WITH =, tstzrange(start_at, end_at) WITH &&)
      )`);
    await q.query(
      `CREATE INDEX appointment_slot_free ON appointment_slot (practitioner_id, start_at) WHERE status = 'free'`,
    );
    await q.query(`
      CREATE TABLE appointment_booking (
        appointment_id  text PRIMARY KEY,
        slot_id         text NOT NULL REFERENCES appointment_slot (slot_id),
        patient_id      text NOT NULL,
        practitioner_id text NOT NULL,
        status          text NOT NULL CHECK (status IN ('booked', 'cancelled')),
        booked_at       timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(
      `CREATE UNIQUE INDEX appointment_booking_active_slot ON appointment_booking (slot_id) WHERE status <> 'cancelled'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE appointment_booking, appointment_slot, appointment_schedule');
  }
}
