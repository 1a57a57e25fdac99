import { Injectable } from '@nestjs/common';
import type { SqlExecutor } from '@hospital/platform';
import type { Consciousness, News2Parameter, News2Risk } from '../news2/news2';
import type { AlertLevel, LatestVital } from './news2-assessment';

/** A patient's recorded NEWS2 state: the last score, its RiskAssessment, the open Flag of each level. */
export interface News2State {
  total: number;
  parameters: Partial<Record<News2Parameter, number>>;
  risk: News2Risk;
  assessmentId: string;
  openFlags: Record<AlertLevel, string | null>;
}

interface LatestRow {
  patient_id: string;
  parameter: News2Parameter;
  value: number | null;
  code: Consciousness | null;
  effective_at: Date;
  observation_id: string;
}

interface StateRow {
  patient_id: string;
  total: number;
  parameters: News2State['parameters'];
  risk: News2Risk;
  assessment_id: string;
  urgent_flag_id: string | null;
  emergency_flag_id: string | null;
}

/**
 * `icu_latest_vital` (a patient's latest reading of each NEWS2 parameter: `value` for the numeric ones, the
 * O2 flow rate in L/min for `onOxygen`; `code` for consciousness) and `icu_news2_state` (migration
 * IcuMonitorTables1765000000000). Every method reads or writes the rows of all the patients of a group of
 * vitals in one statement, on the session of the group's transaction (which holds their beds' locks: one
 * patient's rows change one group at a time). Raw SQL over `unnest` arrays: this is the vitals' hot path,
 * where TypeORM's multi-row upserts cost more than the rest of a group (docs/benchmarks.md, icu-ingest).
 */
@Injectable()
export class VitalsRepository {
  /** Each patient's latest readings (patients without any are absent). */
  async latestOfMany(exec: SqlExecutor, patientIds: readonly string[]): Promise<Map<string, LatestVital[]>> {
    const rows = await exec.query<LatestRow>(
      `SELECT patient_id, parameter, value, code, effective_at, observation_id
         FROM icu_latest_vital WHERE patient_id = ANY($1::text[]) ORDER BY patient_id, parameter`,
      [patientIds],
    );
    const latest = new Map<string, LatestVital[]>();
    for (const row of rows) {
      const vital: LatestVital = {
        parameter: row.parameter,
        value: row.code ?? (row.value as number),
        effectiveAt: row.effective_at,
        observationId: row.observation_id,
      };
      latest.set(row.patient_id, [...(latest.get(row.patient_id) ?? []), vital]);
    }
    return latest;
  }

  /** Makes each vital its patient's latest reading of its parameter (one per patient and parameter). */
  async saveLatestMany(
    exec: SqlExecutor,
    vitals: readonly { patientId: string; vital: LatestVital }[],
  ): Promise<void> {
    if (vitals.length === 0) return;
    const numeric = (v: LatestVital) => typeof v.value === 'number';
    await exec.query(
      `INSERT INTO icu_latest_vital (patient_id, parameter, value, code, effective_at, observation_id)
       SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::timestamptz[], $6::text[])
       ON CONFLICT (patient_id, parameter) DO UPDATE SET value = EXCLUDED.value, code = EXCLUDED.code,
         effective_at = EXCLUDED.effective_at, observation_id = EXCLUDED.observation_id`,
      [
        vitals.map((v) => v.patientId),
        vitals.map((v) => v.vital.parameter),
        vitals.map(({ vital }) => (numeric(vital) ? vital.value : null)),
        vitals.map(({ vital }) => (numeric(vital) ? null : vital.value)),
        vitals.map((v) => v.vital.effectiveAt.toISOString()),
        vitals.map((v) => v.vital.observationId),
      ],
    );
  }

  /** Each patient's recorded NEWS2 state (patients never scored are absent). */
  async statesOf(exec: SqlExecutor, patientIds: readonly string[]): Promise<Map<string, News2State>> {
    const rows = await exec.query<StateRow>(
      `SELECT patient_id, total, parameters, risk, assessment_id, urgent_flag_id, emergency_flag_id
         FROM icu_news2_state WHERE patient_id = ANY($1::text[])`,
      [patientIds],
    );
    return new Map(
      rows.map((row) => [
        row.patient_id,
        {
          total: row.total,
          parameters: row.parameters,
          risk: row.risk,
          assessmentId: row.assessment_id,
          openFlags: { urgent: row.urgent_flag_id, emergency: row.emergency_flag_id },
        },
      ]),
    );
  }

  async saveStateMany(
    exec: SqlExecutor,
    states: readonly { patientId: string; state: News2State }[],
  ): Promise<void> {
    if (states.length === 0) return;
    await exec.query(
      `INSERT INTO icu_news2_state
         (patient_id, total, parameters, risk, assessment_id, urgent_flag_id, emergency_flag_id, updated_at)
       SELECT *, now() FROM unnest($1::text[], $2::int[], $3::jsonb[], $4::text[], $5::text[], $6::text[], $7::text[])
       ON CONFLICT (patient_id) DO UPDATE SET total = EXCLUDED.total, parameters = EXCLUDED.parameters,
         risk = EXCLUDED.risk, assessment_id = EXCLUDED.assessment_id, urgent_flag_id = EXCLUDED.urgent_flag_id,
         emergency_flag_id = EXCLUDED.emergency_flag_id, updated_at = EXCLUDED.updated_at`,
      [
        states.map((s) => s.patientId),
        states.map((s) => s.state.total),
        states.map((s) => JSON.stringify(s.state.parameters)),
        states.map((s) => s.state.risk),
        states.map((s) => s.state.assessmentId),
        states.map((s) => s.state.openFlags.urgent),
        states.map((s) => s.state.openFlags.emergency),
      ],
    );
  }
}
