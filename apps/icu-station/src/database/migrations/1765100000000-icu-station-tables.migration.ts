import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The station's tables.
 *
 * - `icu_station_alert`: each alert transition received, once per idempotency key (the unique constraint
 *   is the de-duplication: a repeated delivery inserts nothing). `seq` orders them as received; `via` says
 *   whether it was pushed by the monitor or fetched by reconciliation.
 * - `icu_station_cursor`: the reconciliation cursor per source (the `next` of the last page recorded).
 */
export class IcuStationTables1765100000000 implements MigrationInterface {
  name = 'IcuStationTables1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE icu_station_alert (
        seq             bigserial PRIMARY KEY,
        idempotency_key text NOT NULL,
        alert_id        text NOT NULL,
        level           text NOT NULL CHECK (level IN ('urgent', 'emergency', 'resolved')),
        flag_level      text NOT NULL CHECK (flag_level IN ('urgent', 'emergency')),
        bed_id          text NOT NULL,
        patient_id      text NOT NULL,
        assessment_id   text NOT NULL,
        news2_total     integer NOT NULL CHECK (news2_total >= 0),
        effective_at    timestamptz NOT NULL,
        received_at     timestamptz NOT NULL DEFAULT now(),
        via             text NOT NULL CHECK (via IN ('push', 'reconciliation')),
        CONSTRAINT icu_station_alert_key UNIQUE (idempotency_key)
      )`);
    await q.query(`CREATE INDEX icu_station_alert_bed ON icu_station_alert (bed_id, seq DESC)`);
    await q.query(`CREATE INDEX icu_station_alert_level ON icu_station_alert (level, seq DESC)`);
    await q.query(`
      CREATE TABLE icu_station_cursor (
        source     text PRIMARY KEY,
        cursor     text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE icu_station_cursor`);
    await q.query(`DROP TABLE icu_station_alert`);
  }
}
