import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Lists quota-cached sagas newest first, and a client's by its correlation id (`/api/transactions`), as
 * the saga log's `tx_saga_created` and `tx_saga_correlation` do.
 */
export class QuotaSagaLogListing1766500000200 implements MigrationInterface {
  name = 'QuotaSagaLogListing1766500000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX tx_quota_saga_created ON tx_quota_saga (created_at DESC)`);
    await q.query(
      `CREATE INDEX tx_quota_saga_correlation ON tx_quota_saga (correlation_id, created_at DESC)
         WHERE correlation_id IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX tx_quota_saga_correlation, tx_quota_saga_created`);
  }
}
