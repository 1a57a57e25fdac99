import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tables of the best-effort notification style: the notification log, written in the caller's local
 * transaction, and one row per delivery attempt.
 *
 * `tx_notification.seq` is the reconciliation order: a sequencer (one at a time, under an advisory lock)
 * numbers committed rows as it finds them, so a notification that commits late gets a number after every
 * one a reader has seen, and a cursor never skips it (positions are taken at insert, in another order
 * than commits). NULL until numbered. `next_attempt_at` is the due time of a pending notification, and while
 * it is leased the lease's end (an expired lease makes it due again); NULL once it is not pending.
 */
export class BestEffortTables1765000000000 implements MigrationInterface {
  name = 'BestEffortTables1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_notification (
        position         bigserial PRIMARY KEY,
        id               text NOT NULL UNIQUE,
        idempotency_key  text NOT NULL UNIQUE,
        receiver         text NOT NULL,
        channel          text NOT NULL,
        type             text NOT NULL,
        gtid             text NOT NULL,
        payload          jsonb NOT NULL,
        state            text NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'delivered', 'dead-lettered')),
        attempts         integer NOT NULL DEFAULT 0,
        round_start      integer NOT NULL DEFAULT 0,
        replays          integer NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz DEFAULT clock_timestamp(),
        retry_delay_ms   integer,
        lease_token      uuid,
        lease_owner      text,
        lease_until      timestamptz,
        seq              bigint UNIQUE,
        created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
        delivered_at     timestamptz,
        dead_lettered_at timestamptz,
        last_error       text,
        CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL))
      )`);
    await q.query(
      `CREATE INDEX tx_notification_due ON tx_notification (next_attempt_at) WHERE state = 'pending'`,
    );
    await q.query(`CREATE INDEX tx_notification_dead ON tx_notification (dead_lettered_at, position)
      WHERE state = 'dead-lettered'`);
    await q.query(`CREATE SEQUENCE tx_notification_seq`);
    await q.query(`CREATE INDEX tx_notification_unsequenced ON tx_notification (position) WHERE seq IS NULL`);
    await q.query(`CREATE INDEX tx_notification_receiver ON tx_notification (receiver, seq)`);
    await q.query(`CREATE INDEX tx_notification_delivered ON tx_notification (delivered_at)
      WHERE state = 'delivered'`);
    await q.query(`
      CREATE TABLE tx_notification_attempt (
        notification_id text NOT NULL REFERENCES tx_notification (id) ON DELETE CASCADE,
        attempt         integer NOT NULL,
        dispatcher      text NOT NULL,
        started_at      timestamptz NOT NULL,
        finished_at     timestamptz,
        outcome         text CHECK (outcome IN ('delivered', 'failed', 'rejected', 'timeout', 'abandoned')),
        error           text,
        retry_delay_ms  integer,
        PRIMARY KEY (notification_id, attempt)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE tx_notification_attempt, tx_notification`);
    await q.query(`DROP SEQUENCE tx_notification_seq`);
  }
}
