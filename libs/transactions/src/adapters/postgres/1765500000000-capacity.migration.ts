import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A participant's reservable capacity, in its own database: one row per resource in `tx_capacity` (units
 * offered, taken, held by TCC Tries, lent to the quota cache; `available` is what is left, and a CHECK
 * keeps it at zero or above, so no write can ever oversell), and one row per claim in `tx_capacity_claim`,
 * keyed by the saga step or TCC branch that made it. A `released` claim is a tombstone: it stays, so a
 * late apply or Try of the same key is refused. A tombstone written before any apply (a release that came
 * first) has no resource and no units.
 */
export class Capacity1765500000000 implements MigrationInterface {
  name = 'Capacity1765500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tx_capacity (
        resource   text PRIMARY KEY CHECK (resource ~ '^[a-z]+:[A-Za-z0-9._:@-]{1,120}$'),
        capacity   integer NOT NULL CHECK (capacity >= 0),
        taken      integer NOT NULL DEFAULT 0 CHECK (taken >= 0),
        held       integer NOT NULL DEFAULT 0 CHECK (held >= 0),
        lent       integer NOT NULL DEFAULT 0 CHECK (lent >= 0),
        available  integer GENERATED ALWAYS AS (capacity - taken - held - lent) STORED
                   CONSTRAINT tx_capacity_not_oversold CHECK (available >= 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE tx_capacity_claim (
        key        text PRIMARY KEY,
        gtid       text NOT NULL,
        resource   text REFERENCES tx_capacity (resource),
        units      integer NOT NULL CHECK (units >= 0),
        mode       text NOT NULL CHECK (mode IN ('saga', 'quota-saga', 'tcc')),
        state      text NOT NULL CHECK (state IN ('applied', 'held', 'released')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (state = 'released' OR (resource IS NOT NULL AND units > 0))
      )`);
    await q.query(`CREATE INDEX tx_capacity_claim_gtid ON tx_capacity_claim (gtid)`);
    await q.query(
      `CREATE INDEX tx_capacity_claim_live ON tx_capacity_claim (resource) WHERE state <> 'released'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tx_capacity_claim, tx_capacity');
  }
}
