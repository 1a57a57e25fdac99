import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A two-phase message producer's barrier table, in the producer's own database: `commit` written by the
 * local transaction that goes with the message, `rollback` by a check-back that found none. The primary key
 * makes the first of the two win.
 */
export class MessageBarrierTable1763800000200 implements MigrationInterface {
  name = 'MessageBarrierTable1763800000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_message_barrier (
        gtid       text PRIMARY KEY,
        op         text NOT NULL CHECK (op IN ('commit', 'rollback')),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX tx_message_barrier_created ON tx_message_barrier (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tx_message_barrier');
  }
}
