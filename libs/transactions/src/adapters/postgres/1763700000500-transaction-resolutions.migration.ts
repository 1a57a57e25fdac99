import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Operators' resolutions of in-doubt transactions: who asked for which decision and why, what was applied,
 * and whether it was heuristic (taken without the coordinator's word). Written before the decision is
 * applied and completed afterwards, so a resolution that crashed half-way still names its operator.
 */
export class TransactionResolutions1763700000500 implements MigrationInterface {
  name = 'TransactionResolutions1763700000500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_resolution (
        id          bigserial PRIMARY KEY,
        gtid        text NOT NULL,
        role        text NOT NULL CHECK (role IN ('coordinator', 'participant')),
        coordinator text NOT NULL,
        requested   text NOT NULL CHECK (requested IN ('commit', 'abort')),
        decision    text NOT NULL CHECK (decision IN ('commit', 'abort')),
        heuristic   boolean NOT NULL,
        operator    text NOT NULL,
        reason      text NOT NULL,
        outcome     text NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'applied', 'failed')),
        detail      text,
        created_at  timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
      )`);
    await q.query(`CREATE INDEX tx_resolution_gtid ON tx_resolution (gtid)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tx_resolution');
  }
}
