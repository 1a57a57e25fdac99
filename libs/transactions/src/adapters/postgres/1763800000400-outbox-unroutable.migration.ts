import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Messages the broker routed to no queue stay pending, held back until `retry_at` (`attempts` so far, the
 * broker's answer in `last_error`). Held rows leave the pending index that claims scan, so however many
 * there are they never slow a claim down; a small index of them per aggregate keeps the later messages of
 * a held aggregate from going out before it.
 */
export class OutboxUnroutable1763800000400 implements MigrationInterface {
  name = 'OutboxUnroutable1763800000400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tx_outbox
      ADD COLUMN attempts integer NOT NULL DEFAULT 0,
      ADD COLUMN retry_at timestamptz,
      ADD COLUMN last_error text`);
    await q.query(`DROP INDEX tx_outbox_pending`);
    await q.query(
      `CREATE INDEX tx_outbox_pending ON tx_outbox (position) WHERE published_at IS NULL AND retry_at IS NULL`,
    );
    await q.query(`CREATE INDEX tx_outbox_held ON tx_outbox (aggregate_id, position)
      WHERE published_at IS NULL AND retry_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX tx_outbox_held`);
    await q.query(`DROP INDEX tx_outbox_pending`);
    await q.query(`CREATE INDEX tx_outbox_pending ON tx_outbox (position) WHERE published_at IS NULL`);
    await q.query(`ALTER TABLE tx_outbox DROP COLUMN attempts, DROP COLUMN retry_at, DROP COLUMN last_error`);
  }
}
