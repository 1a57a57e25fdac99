import { MigrationInterface, QueryRunner } from 'typeorm';

/** Lists a client's TCC transactions by its correlation id, newest first, as `tx_saga_correlation` does. */
export class TccLogCorrelation1766500000100 implements MigrationInterface {
  name = 'TccLogCorrelation1766500000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX tx_tcc_correlation ON tx_tcc (correlation_id, created_at DESC)
         WHERE correlation_id IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX tx_tcc_correlation`);
  }
}
