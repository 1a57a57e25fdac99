import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The two-phase message server's table: one row per message, from prepare to delivered or aborted.
 * `next_check_at` is when recovery may next look at an unfinished row: the check-back instant of a
 * prepared message, the end of the publishing lease of a submitted one.
 */
export class MessageServerTables1763800000100 implements MigrationInterface {
  name = 'MessageServerTables1763800000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_message (
        gtid           text PRIMARY KEY,
        message_id     text NOT NULL,
        producer       text NOT NULL,
        check_back_url text NOT NULL,
        exchange       text NOT NULL,
        routing_key    text NOT NULL,
        type           text NOT NULL,
        aggregate_id   text NOT NULL,
        payload        jsonb NOT NULL,
        state          text NOT NULL CHECK (state IN ('prepared', 'submitted', 'delivered', 'aborted')),
        attempts       integer NOT NULL DEFAULT 0,
        last_error     text,
        created_at     timestamptz NOT NULL DEFAULT now(),
        updated_at     timestamptz NOT NULL DEFAULT now(),
        next_check_at  timestamptz
      )`);
    await q.query(
      `CREATE INDEX tx_message_due ON tx_message (next_check_at) WHERE state IN ('prepared', 'submitted')`,
    );
    await q.query(`CREATE INDEX tx_message_created ON tx_message (created_at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tx_message');
  }
}
