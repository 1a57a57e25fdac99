import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Fewer indexes on the outbox's hot path: marking a message published writes a new row version into every
 * index, so the two that only served housekeeping go. Per-aggregate sequences stay unique by construction
 * (the aggregate's row lock); pruning walks the primary key up to the oldest pending message.
 */
export class OutboxLeanIndexes1763800000300 implements MigrationInterface {
  name = 'OutboxLeanIndexes1763800000300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX tx_outbox_published`);
    await q.query(`ALTER TABLE tx_outbox DROP CONSTRAINT tx_outbox_aggregate_id_sequence_key`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tx_outbox ADD UNIQUE (aggregate_id, sequence)`);
    await q.query(
      `CREATE INDEX tx_outbox_published ON tx_outbox (published_at) WHERE published_at IS NOT NULL`,
    );
  }
}
