import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The simulated supplier's book of purchase orders. One row per purchase order id (the primary key), so
 * an order is recorded — and shipped — once however often it arrives; a second arrival under another
 * message id is counted in `duplicate_receipts`, which makes "no purchase order sent twice" checkable.
 * `ship_due_at` is the durable shipping timer: a sweep claims due rows with FOR UPDATE SKIP LOCKED.
 */
export class SupplierTables1763800002000 implements MigrationInterface {
  name = 'SupplierTables1763800002000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE supplier_purchase_order (
        purchase_order_id  text PRIMARY KEY,
        reorder_id         text NOT NULL,
        medication_code    text NOT NULL,
        location_id        text NOT NULL,
        quantity           integer NOT NULL CHECK (quantity > 0),
        gtid               text NOT NULL,
        message_id         text NOT NULL,
        received_at        timestamptz NOT NULL DEFAULT now(),
        duplicate_receipts integer NOT NULL DEFAULT 0,
        ship_due_at        timestamptz NOT NULL,
        delivery_id        text UNIQUE,
        shipped_at         timestamptz,
        CHECK ((shipped_at IS NULL) = (delivery_id IS NULL))
      )`);
    await q.query(
      `CREATE INDEX supplier_purchase_order_due ON supplier_purchase_order (ship_due_at) WHERE shipped_at IS NULL`,
    );
    await q.query(`CREATE INDEX supplier_purchase_order_reorder ON supplier_purchase_order (reorder_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE supplier_purchase_order');
  }
}
