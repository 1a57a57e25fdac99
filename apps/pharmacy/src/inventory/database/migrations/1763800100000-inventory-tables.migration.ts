import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Stock per drug and location, the reorders it opened, and a ledger row per applied movement (keyed by the
 * message that carried it). `initial_on_hand` is what the seed booked in, so for every line
 *   on_hand = initial_on_hand − Σ dispensed + Σ delivered
 * holds and can be checked by SQL. No foreign keys: every write comes from one statement that touches the
 * stock row first, and rows are never deleted.
 */
export class InventoryTables1763800100000 implements MigrationInterface {
  name = 'InventoryTables1763800100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE inventory_stock (
        medication_code  text NOT NULL,
        location_id      text NOT NULL,
        initial_on_hand  integer NOT NULL,
        on_hand          integer NOT NULL,
        reorder_point    integer NOT NULL CHECK (reorder_point >= 0),
        reorder_quantity integer NOT NULL CHECK (reorder_quantity BETWEEN 1 AND 10000),
        open_reorder_id  text,
        updated_at       timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (medication_code, location_id)
      )`);
    await q.query(
      `CREATE INDEX inventory_stock_location_idx ON inventory_stock (location_id, medication_code)`,
    );
    await q.query(`
      CREATE TABLE inventory_reorder (
        reorder_id         text PRIMARY KEY,
        medication_code    text NOT NULL,
        location_id        text NOT NULL,
        quantity           integer NOT NULL CHECK (quantity > 0),
        on_hand_at_open    integer NOT NULL,
        status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        opened_by_message  text NOT NULL,
        opened_at          timestamptz NOT NULL DEFAULT now(),
        closed_at          timestamptz,
        delivery_id        text,
        delivered_quantity integer
      )`);
    // At most one open reorder per drug and location.
    await q.query(
      `CREATE UNIQUE INDEX inventory_reorder_open_idx ON inventory_reorder (medication_code, location_id) WHERE status = 'open'`,
    );
    await q.query(`
      CREATE TABLE inventory_movement (
        message_id      text PRIMARY KEY,
        kind            text NOT NULL CHECK (kind IN ('dispense', 'delivery')),
        medication_code text NOT NULL,
        location_id     text NOT NULL,
        quantity        integer NOT NULL CHECK (quantity > 0),
        reference_id    text NOT NULL,
        on_hand_after   integer NOT NULL,
        applied_at      timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(
      `CREATE INDEX inventory_movement_stock_idx ON inventory_movement (medication_code, location_id)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE inventory_movement, inventory_reorder, inventory_stock`);
  }
}
