import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Finds a best-effort transaction's notifications by gtid (`/api/transactions/:gtid`): without it, every
 * look-up of a gtid in a service that keeps notifications would read the whole log.
 */
export class NotificationGtid1766500000000 implements MigrationInterface {
  name = 'NotificationGtid1766500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX tx_notification_gtid ON tx_notification (gtid)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX tx_notification_gtid`);
  }
}
