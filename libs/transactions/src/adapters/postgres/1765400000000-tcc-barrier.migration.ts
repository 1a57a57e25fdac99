import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A TCC participant's barrier table, in the participant's own database, written in the same local
 * transaction as its business write. One row per (gtid, branch, op); `origin` is the operation that wrote
 * it. A Cancel that finds no Try writes the `try` row itself (origin `cancel`): a Try arriving later then
 * conflicts on the primary key and is refused, and a Try and a Cancel racing serialise on that key.
 */
export class TccBarrier1765400000000 implements MigrationInterface {
  name = 'TccBarrier1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_tcc_barrier (
        gtid       text NOT NULL,
        branch     text NOT NULL,
        op         text NOT NULL CHECK (op IN ('try', 'confirm', 'cancel')),
        origin     text NOT NULL CHECK (origin IN ('try', 'confirm', 'cancel')),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (gtid, branch, op)
      )`);
    await q.query(`CREATE INDEX tx_tcc_barrier_created ON tx_tcc_barrier (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tx_tcc_barrier');
  }
}
