import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail: `audit_event`, one row per audit record, append-only and hash-chained.
 *
 * - `seq` is the position in the chain (1, 2, 3… without gaps: rows are appended under an advisory lock);
 *   `prev_hash` is the hash of row `seq - 1` (64 zeros for the first), `hash` is
 *   sha256(prev_hash || canonical JSON of the row's record fields) (`trail/hash-chain.ts`).
 * - A trigger refuses every UPDATE and DELETE, and one refuses TRUNCATE: the service only appends. An
 *   attacker with superuser rights can disable them; the chain then shows where the rows changed.
 */
export class AuditEvent1766100000000 implements MigrationInterface {
  name = 'AuditEvent1766100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_event (
        seq             bigint PRIMARY KEY CHECK (seq >= 1),
        id              uuid NOT NULL UNIQUE,
        recorded        timestamptz NOT NULL,
        service         text NOT NULL,
        actor_kind      text CHECK (actor_kind IN ('user', 'service')),
        actor_id        text,
        actor_name      text,
        actor_role      text,
        action          text NOT NULL CHECK (action IN ('C', 'R', 'U', 'D', 'E')),
        interaction     text NOT NULL,
        resource_type   text,
        resource_id     text,
        patient         text,
        gtid            text,
        outcome         text NOT NULL CHECK (outcome IN ('0', '4', '8')),
        status          integer NOT NULL,
        reason          text,
        source_address  text,
        break_the_glass text,
        stored_at       timestamptz NOT NULL DEFAULT now(),
        prev_hash       text NOT NULL,
        hash            text NOT NULL
      )`);
    await q.query(`CREATE INDEX audit_event_recorded ON audit_event (recorded, seq)`);
    await q.query(`CREATE INDEX audit_event_patient ON audit_event (patient, recorded)`);
    await q.query(`CREATE INDEX audit_event_actor ON audit_event (actor_id, recorded)`);
    await q.query(`
      CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event
        FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()`);
    await q.query(`
      CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
        FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_event`);
    await q.query(`DROP FUNCTION audit_event_append_only()`);
  }
}
