import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A 3PC participant's durable phase per branch, beside the branch's prepared transaction: no row while
 * it is uncertain, `precommitted` once PreCommit is recorded, `aborted` once it gave up or was told to.
 * Recording PreCommit and recording an abort insert the same row, so exactly one of them wins.
 */
export class ThreePhaseState1765700000000 implements MigrationInterface {
  name = 'ThreePhaseState1765700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_3pc_branch (
        coordinator text NOT NULL,
        gtid        text NOT NULL,
        phase       text NOT NULL CHECK (phase IN ('precommitted', 'aborted')),
        peers       text[] NOT NULL DEFAULT '{}',
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (coordinator, gtid)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tx_3pc_branch');
  }
}
