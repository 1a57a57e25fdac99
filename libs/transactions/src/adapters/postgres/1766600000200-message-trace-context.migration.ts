import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The W3C `traceparent` of the producer's prepare request (its trace, through the service call): the server
 * publishes the message with it, so the consumer's span joins the producer's trace.
 */
export class MessageTraceContext1766600000200 implements MigrationInterface {
  name = 'MessageTraceContext1766600000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tx_message ADD COLUMN traceparent text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tx_message DROP COLUMN traceparent`);
  }
}
