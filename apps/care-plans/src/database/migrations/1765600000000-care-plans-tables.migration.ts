import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The care-plans service's own table: `care_plan`, one row per treatment plan beside its FHIR CarePlan,
 * written in the same local transaction. The row is the plan step's barrier in every mode: created once
 * per gtid (as a draft, or revoked when the revocation came first), activated once, revoked once, never
 * both; `CHECK`s keep the states and modes to those the service knows. `gtid` is the plan's saga or TCC
 * transaction (minted by this service), unique: a transaction books one plan.
 */
export class CarePlansTables1765600000000 implements MigrationInterface {
  name = 'CarePlansTables1765600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE care_plan (
        plan_id      text PRIMARY KEY CHECK (plan_id ~ '^[A-Za-z0-9.-]{1,64}$'),
        gtid         text NOT NULL UNIQUE,
        mode         text NOT NULL CHECK (mode IN ('saga', 'quota-saga', 'tcc')),
        status       text NOT NULL CHECK (status IN ('draft', 'active', 'revoked')),
        care_team_id text NOT NULL,
        reason       text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        updated_at   timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX care_plan_status ON care_plan (status, created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE care_plan');
  }
}
