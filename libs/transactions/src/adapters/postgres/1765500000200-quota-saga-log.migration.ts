import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A quota-cached saga orchestrator's log, in its own database: one row per saga, written when it begins
 * (with the caller's draft) and when it finishes (with the caller's completion or revocation), fenced by
 * the lease token so a replica whose lease was taken over cannot finish it.
 */
export class QuotaSagaLog1765500000200 implements MigrationInterface {
  name = 'QuotaSagaLog1765500000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_quota_saga (
        gtid           text PRIMARY KEY,
        input          jsonb NOT NULL,
        steps          jsonb NOT NULL,
        state          text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'completed', 'aborted')),
        correlation_id text,
        reason         text,
        lease_owner    text,
        lease_token    text,
        lease_until    timestamptz,
        created_at     timestamptz NOT NULL DEFAULT now(),
        finished_at    timestamptz
      )`);
    await q.query(
      `CREATE INDEX tx_quota_saga_running ON tx_quota_saga (lease_until) WHERE state = 'running'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tx_quota_saga');
  }
}
