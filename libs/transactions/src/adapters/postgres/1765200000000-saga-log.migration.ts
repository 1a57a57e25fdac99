import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tables of the orchestrated saga: the saga log (`tx_saga`, one row per saga, leased to the orchestrator
 * replica driving it) and its steps (`tx_saga_step`, one row per step, written before each action and
 * each compensation). `lease_token` fences every write: a replica whose lease another claim replaced can
 * no longer write. `lease_until` is NULL or in the past once nobody drives the saga (claimable), and is
 * the end of a back-off for one given back (`release`).
 */
export class SagaLog1765200000000 implements MigrationInterface {
  name = 'SagaLog1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_saga (
        gtid           text PRIMARY KEY,
        workflow       text NOT NULL,
        input          jsonb NOT NULL,
        state          text NOT NULL CHECK (state IN ('running', 'compensating', 'completed', 'aborted')),
        failed_step    text,
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
        CHECK ((state IN ('completed', 'aborted')) = (finished_at IS NOT NULL))
      )`);
    await q.query(
      `CREATE INDEX tx_saga_unfinished ON tx_saga (lease_until NULLS FIRST)
         WHERE state IN ('running', 'compensating')`,
    );
    await q.query(`CREATE INDEX tx_saga_created ON tx_saga (created_at DESC)`);
    await q.query(
      `CREATE INDEX tx_saga_correlation ON tx_saga (correlation_id, created_at DESC)
         WHERE correlation_id IS NOT NULL`,
    );
    await q.query(`
      CREATE TABLE tx_saga_step (
        gtid                  text NOT NULL REFERENCES tx_saga (gtid) ON DELETE CASCADE,
        position              smallint NOT NULL,
        name                  text NOT NULL,
        status                text NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'started', 'done', 'failed', 'compensating', 'compensated')),
        attempts              integer NOT NULL DEFAULT 0,
        compensation_attempts integer NOT NULL DEFAULT 0,
        result                jsonb,
        error                 text,
        updated_at            timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (gtid, position)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tx_saga_step, tx_saga');
  }
}
