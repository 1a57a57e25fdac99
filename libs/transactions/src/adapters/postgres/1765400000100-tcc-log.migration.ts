import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The TCC coordinator's log (`tx_tcc`, one row per global transaction, leased to the coordinator replica
 * driving it), in the coordinating service's database. `state` is `trying` until the decision
 * (`confirming` or `cancelling`) is written, once, before any Confirm or Cancel is sent. `lease_token`
 * fences every write; `lease_until` is NULL or past once nobody drives it (claimable), or the end of a
 * back-off for one given back.
 */
export class TccLog1765400000100 implements MigrationInterface {
  name = 'TccLog1765400000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_tcc (
        gtid           text PRIMARY KEY,
        workflow       text NOT NULL,
        input          jsonb NOT NULL,
        branches       text[] NOT NULL,
        state          text NOT NULL
                       CHECK (state IN ('trying', 'confirming', 'cancelling', 'confirmed', 'cancelled')),
        reason         text,
        correlation_id text,
        retries        integer NOT NULL DEFAULT 0,
        last_error     text,
        lease_owner    text,
        lease_token    uuid,
        lease_until    timestamptz,
        timeline       jsonb NOT NULL DEFAULT '[]',
        created_at     timestamptz NOT NULL DEFAULT now(),
        updated_at     timestamptz NOT NULL DEFAULT now(),
        finished_at    timestamptz,
        CHECK ((state IN ('confirmed', 'cancelled')) = (finished_at IS NOT NULL))
      )`);
    await q.query(
      `CREATE INDEX tx_tcc_unfinished ON tx_tcc (lease_until NULLS FIRST)
         WHERE state IN ('trying', 'confirming', 'cancelling')`,
    );
    await q.query(`CREATE INDEX tx_tcc_created ON tx_tcc (created_at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tx_tcc');
  }
}
