import { MigrationInterface, QueryRunner } from 'typeorm';

/** Ordering partitions of the outbox: a relay claims whole partitions, so one aggregate is never split. */
export const OUTBOX_PARTITIONS = 16;

/**
 * Tables of the outbox / inbox style: the producer's local message table with its per-aggregate
 * sequence and claimable partitions, and the consumer's inbox with its per-aggregate cursor.
 */
export class MessagingTables1763800000000 implements MigrationInterface {
  name = 'MessagingTables1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_outbox (
        position     bigserial PRIMARY KEY,
        id           text NOT NULL UNIQUE,
        partition    smallint NOT NULL,
        aggregate_id text NOT NULL,
        sequence     bigint NOT NULL,
        exchange     text NOT NULL,
        routing_key  text NOT NULL,
        type         text NOT NULL,
        gtid         text NOT NULL,
        payload      jsonb NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
        published_at timestamptz,
        UNIQUE (aggregate_id, sequence)
      )`);
    await q.query(`CREATE INDEX tx_outbox_pending ON tx_outbox (position) WHERE published_at IS NULL`);
    await q.query(
      `CREATE INDEX tx_outbox_published ON tx_outbox (published_at) WHERE published_at IS NOT NULL`,
    );
    // The row of an aggregate is locked by every transaction that appends to it, so sequence order is
    // commit order: a later event of the same aggregate cannot commit before an earlier one.
    await q.query(`
      CREATE TABLE tx_outbox_aggregate (
        aggregate_id  text PRIMARY KEY,
        last_sequence bigint NOT NULL
      )`);
    await q.query(`CREATE TABLE tx_outbox_partition (partition smallint PRIMARY KEY)`);
    await q.query(`INSERT INTO tx_outbox_partition SELECT generate_series(0, ${OUTBOX_PARTITIONS - 1})`);

    await q.query(`
      CREATE TABLE tx_inbox (
        consumer    text NOT NULL,
        message_id  text NOT NULL,
        outcome     text NOT NULL CHECK (outcome IN ('applied', 'dead-lettered')),
        reason      text,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, message_id)
      )`);
    await q.query(`
      CREATE TABLE tx_inbox_cursor (
        consumer      text NOT NULL,
        aggregate_id  text NOT NULL,
        last_sequence bigint NOT NULL,
        PRIMARY KEY (consumer, aggregate_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `DROP TABLE tx_inbox_cursor, tx_inbox, tx_outbox_partition, tx_outbox_aggregate, tx_outbox`,
    );
  }
}
