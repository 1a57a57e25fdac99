import { MigrationInterface, QueryRunner } from 'typeorm';

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
