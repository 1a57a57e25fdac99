import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The W3C `traceparent` of the request that wrote an outbox message: the relay publishes it as a header, so
 * the consumer's span joins the producer's trace (null where the writer was outside any trace).
 */
export class OutboxTraceContext1766600000000 implements MigrationInterface {
  name = 'OutboxTraceContext1766600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tx_outbox ADD COLUMN traceparent text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tx_outbox DROP COLUMN traceparent`);
  }
}
