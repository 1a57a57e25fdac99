import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The supply chain's own tables: the reorders it was asked for (inventory's StockLow events and manual
 * SupplyRequests) and the one purchase order each gets. `UNIQUE (reorder_id)` on the purchase orders is
 * the database's proof of "exactly one purchase order per reorder"; the FHIR SupplyRequest and
 * SupplyDelivery records live in the FHIR store beside them.
 */
export class SupplyChainTables1763800001000 implements MigrationInterface {
  name = 'SupplyChainTables1763800001000';

  async up(q: QueryRunner): Promise<void> {
    // `generation` names the current two-phase message attempt: the gtid is derived from the reorder id
    // and it, so a purchaser resuming after a crash prepares the same message; it moves on only once the
    // message server settled the previous gtid as aborted. `lease_until` is the purchaser's claim.
    await q.query(`
      CREATE TABLE supply_reorder (
        reorder_id      text PRIMARY KEY,
        origin          text NOT NULL CHECK (origin IN ('stock-low', 'manual')),
        medication_code text NOT NULL,
        location_id     text NOT NULL,
        quantity        integer NOT NULL CHECK (quantity > 0),
        state           text NOT NULL CHECK (state IN ('open', 'ordered')),
        generation      integer NOT NULL DEFAULT 0,
        attempts        integer NOT NULL DEFAULT 0,
        lease_until     timestamptz,
        last_error      text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        ordered_at      timestamptz
      )`);
    await q.query(`CREATE INDEX supply_reorder_open ON supply_reorder (created_at) WHERE state = 'open'`);
    await q.query(`
      CREATE TABLE supply_purchase_order (
        purchase_order_id text PRIMARY KEY,
        reorder_id        text NOT NULL UNIQUE REFERENCES supply_reorder (reorder_id),
        gtid              text NOT NULL UNIQUE,
        medication_code   text NOT NULL,
        location_id       text NOT NULL,
        quantity          integer NOT NULL CHECK (quantity > 0),
        status            text NOT NULL CHECK (status IN ('placed', 'completed')),
        placed_at         timestamptz NOT NULL DEFAULT now(),
        delivery_id       text UNIQUE,
        completed_at      timestamptz,
        CHECK ((status = 'completed') = (delivery_id IS NOT NULL))
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE supply_purchase_order, supply_reorder');
  }
}
