import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ICU monitor's own tables.
 *
 * - `icu_bed`: the unit's bed places and who is admitted to each, with the SpO2 scale NEWS2 scores that
 *   patient on. The twelve places ICU-01…ICU-12 are the unit's layout, so they are created here rather than
 *   by a seed: every database of the service (demo, bench, tests) has the same beds. A patient is in at most
 *   one bed (the partial unique index).
 * - `icu_latest_vital`: each patient's latest value of each NEWS2 parameter, with the Observation it came
 *   from. A numeric parameter keeps `value` (the flow rate in L/min for `onOxygen`), consciousness keeps
 *   its ACVPU `code`.
 * - `icu_news2_state`: each patient's last NEWS2 score (total and per-parameter breakdown), the
 *   RiskAssessment that recorded it and the Flag open at each escalation level — at most one per level,
 *   by construction (one column each).
 */
export class IcuMonitorTables1765000000000 implements MigrationInterface {
  name = 'IcuMonitorTables1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE icu_bed (
        bed_id      text PRIMARY KEY CHECK (bed_id ~ '^[A-Za-z0-9-]{1,64}$'),
        patient_id  text,
        spo2_scale  smallint CHECK (spo2_scale IN (1, 2)),
        admitted_at timestamptz,
        CHECK ((patient_id IS NULL) = (spo2_scale IS NULL)),
        CHECK ((patient_id IS NULL) = (admitted_at IS NULL))
      )`);
    await q.query(`CREATE UNIQUE INDEX icu_bed_patient ON icu_bed (patient_id) WHERE patient_id IS NOT NULL`);
    await q.query(`
      INSERT INTO icu_bed (bed_id)
      SELECT 'ICU-' || lpad(n::text, 2, '0') FROM generate_series(1, 12) AS n`);
    await q.query(`
      CREATE TABLE icu_latest_vital (
        patient_id     text NOT NULL,
        parameter      text NOT NULL CHECK (parameter IN ('respirationRate', 'spo2', 'onOxygen', 'systolicBp',
                                                          'pulse', 'consciousness', 'temperature')),
        value          double precision,
        code           text CHECK (code IN ('A', 'C', 'V', 'P', 'U')),
        effective_at   timestamptz NOT NULL,
        observation_id text NOT NULL,
        PRIMARY KEY (patient_id, parameter),
        CHECK ((parameter = 'consciousness') = (code IS NOT NULL)),
        CHECK ((value IS NULL) <> (code IS NULL))
      )`);
    await q.query(`
      CREATE TABLE icu_news2_state (
        patient_id        text PRIMARY KEY,
        total             integer NOT NULL CHECK (total >= 0),
        parameters        jsonb NOT NULL,
        risk              text NOT NULL CHECK (risk IN ('low', 'low-medium', 'medium', 'high')),
        assessment_id     text NOT NULL,
        urgent_flag_id    text,
        emergency_flag_id text,
        updated_at        timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE icu_news2_state, icu_latest_vital, icu_bed');
  }
}
