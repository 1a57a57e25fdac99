import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Branches keyed by their coordinator as well as their gtid, so branches of two coordinators that
 * happen to use the same gtid can never be taken for one another; and the correlation id a client sent
 * (`x-gtid` or `x-correlation-id`), kept beside the gtid the coordinator minted.
 */
export class TransactionKeys1764960000000 implements MigrationInterface {
  name = 'TransactionKeys1764960000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tx_participant_branch DROP CONSTRAINT tx_participant_branch_pkey`);
    await q.query(`ALTER TABLE tx_participant_branch ADD PRIMARY KEY (coordinator, gtid)`);
    // Retention deletes branch rows by age.
    await q.query(`CREATE INDEX tx_participant_branch_created ON tx_participant_branch (created_at)`);
    await q.query(`ALTER TABLE tx_global ADD COLUMN correlation_id text`);
    await q.query(
      `CREATE INDEX tx_global_correlation ON tx_global (correlation_id, created_at DESC)
         WHERE correlation_id IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX tx_global_correlation');
    await q.query('ALTER TABLE tx_global DROP COLUMN correlation_id');
    await q.query('DROP INDEX tx_participant_branch_created');
    await q.query(`ALTER TABLE tx_participant_branch DROP CONSTRAINT tx_participant_branch_pkey`);
    await q.query(`ALTER TABLE tx_participant_branch ADD PRIMARY KEY (gtid)`);
  }
}
