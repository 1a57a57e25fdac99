import { MigrationInterface, QueryRunner } from 'typeorm';

/** The trace of the request that began a quota-cached saga (32 hex digits; null outside any trace). */
export class QuotaSagaTrace1766600000100 implements MigrationInterface {
  name = 'QuotaSagaTrace1766600000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tx_quota_saga ADD COLUMN trace_id text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tx_quota_saga DROP COLUMN trace_id`);
  }
}
