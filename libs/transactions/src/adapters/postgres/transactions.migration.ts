import { MigrationInterface, QueryRunner } from 'typeorm';
import { TransactionResolutions1763700000500 } from './resolutions.migration';

/**
 * Tables of the transaction library: the coordinator's global transaction log (shared by every style)
 * and the participant's record of its 2PC branches.
 */
export class TransactionLog1763700000100 implements MigrationInterface {
  name = 'TransactionLog1763700000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_global (
        gtid        text PRIMARY KEY,
        style       text NOT NULL,
        state       text NOT NULL,
        branches    jsonb NOT NULL DEFAULT '[]',
        timeline    jsonb NOT NULL DEFAULT '[]',
        retries     integer NOT NULL DEFAULT 0,
        last_error  text,
        lease_until timestamptz,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX tx_global_created ON tx_global (created_at DESC)`);
    await q.query(
      `CREATE INDEX tx_global_unfinished ON tx_global (style, updated_at)
         WHERE state IN ('preparing', 'committing', 'aborting')`,
    );
    // A branch row is written inside the branch's own prepared transaction (state 'committed', visible
    // only once it commits) or, for an abort that found nothing prepared, as a tombstone ('aborted').
    await q.query(`
      CREATE TABLE tx_participant_branch (
        gtid        text PRIMARY KEY,
        coordinator text NOT NULL,
        state       text NOT NULL CHECK (state IN ('committed', 'aborted')),
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tx_participant_branch');
    await q.query('DROP TABLE tx_global');
  }
}

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

/** The transaction library's tables for a 2PC coordinator or participant, in order. */
export const transactionLogMigrations = [
  TransactionLog1763700000100,
  TransactionResolutions1763700000500,
  TransactionKeys1764960000000,
];
