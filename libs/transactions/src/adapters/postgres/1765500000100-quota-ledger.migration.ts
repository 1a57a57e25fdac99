import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A quota-cache participant's record of what it lent to the cache (after `tx_capacity`). One row per
 * resource and cache epoch: `lent` in all, `consumed` by completed sagas (moved to `taken`), `reclaimed`
 * back to the main database. An epoch is `live` while the cache holds it, `lost` once the cache lost its
 * data (its outstanding units stay withheld while late completions may still arrive), `closed` once they
 * were given back. At most one live epoch per resource. `tx_quota_op` records each lend and reclaim by
 * operation id: a lend is `pending` until the cache confirmed it, so an interrupted one is driven again.
 */
export class QuotaLedger1765500000100 implements MigrationInterface {
  name = 'QuotaLedger1765500000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_quota_epoch (
        resource   text NOT NULL,
        epoch      text NOT NULL,
        state      text NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'lost', 'closed')),
        lent       integer NOT NULL DEFAULT 0 CHECK (lent >= 0),
        consumed   integer NOT NULL DEFAULT 0 CHECK (consumed >= 0),
        reclaimed  integer NOT NULL DEFAULT 0 CHECK (reclaimed >= 0),
        CHECK (consumed + reclaimed <= lent),
        create_op  text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        lost_at    timestamptz,
        closed_at  timestamptz,
        PRIMARY KEY (resource, epoch)
      )`);
    await q.query(
      `CREATE UNIQUE INDEX tx_quota_epoch_live ON tx_quota_epoch (resource) WHERE state = 'live'`,
    );
    await q.query(`
      CREATE TABLE tx_quota_op (
        op_id      text PRIMARY KEY,
        kind       text NOT NULL CHECK (kind IN ('lend', 'reclaim')),
        resource   text NOT NULL,
        epoch      text NOT NULL,
        units      integer NOT NULL CHECK (units >= 0),
        creates    boolean NOT NULL DEFAULT false,
        state      text NOT NULL CHECK (state IN ('pending', 'done', 'refused')),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX tx_quota_op_pending ON tx_quota_op (created_at) WHERE state = 'pending'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tx_quota_op, tx_quota_epoch');
  }
}
