import { Injectable } from '@nestjs/common';
import type { EntityExecutor } from '@hospital/platform';
import type { News2Parameter, News2Risk } from '../news2/news2';
import { LatestVitalEntity } from './latest-vital.entity';
import type { AlertLevel, LatestVital } from './news2-assessment';
import { News2StateEntity } from './news2-state.entity';

/** A patient's recorded NEWS2 state: the last score, its RiskAssessment, the open Flag of each level. */
export interface News2State {
  total: number;
  parameters: Partial<Record<News2Parameter, number>>;
  risk: News2Risk;
  assessmentId: string;
  openFlags: Record<AlertLevel, string | null>;
}

function latestOf(row: LatestVitalEntity): LatestVital {
  return {
    parameter: row.parameter,
    value: row.code ?? (row.value as number),
    effectiveAt: row.effectiveAt,
    observationId: row.observationId,
  };
}

/**
 * `icu_latest_vital` and `icu_news2_state` through their TypeORM entities, always on the session of the
 * vital's transaction (which holds the bed's lock: one patient's rows change one vital at a time).
 */
@Injectable()
export class VitalsRepository {
  async latestOf(exec: EntityExecutor, patientId: string): Promise<LatestVital[]> {
    const rows = await exec
      .repository(LatestVitalEntity)
      .find({ where: { patientId }, order: { parameter: 'ASC' } });
    return rows.map(latestOf);
  }

  /** Makes `vital` the patient's latest reading of its parameter. */
  async saveLatest(exec: EntityExecutor, patientId: string, vital: LatestVital): Promise<void> {
    const numeric = typeof vital.value === 'number';
    await exec.repository(LatestVitalEntity).upsert(
      {
        patientId,
        parameter: vital.parameter,
        value: numeric ? (vital.value as number) : null,
        code: numeric ? null : (vital.value as LatestVitalEntity['code']),
        effectiveAt: vital.effectiveAt,
        observationId: vital.observationId,
      },
      ['patientId', 'parameter'],
    );
  }

  async stateOf(exec: EntityExecutor, patientId: string): Promise<News2State | undefined> {
    const row = await exec.repository(News2StateEntity).findOneBy({ patientId });
    if (row === null) return undefined;
    return {
      total: row.total,
      parameters: row.parameters,
      risk: row.risk,
      assessmentId: row.assessmentId,
      openFlags: { urgent: row.urgentFlagId, emergency: row.emergencyFlagId },
    };
  }

  async saveState(exec: EntityExecutor, patientId: string, state: News2State): Promise<void> {
    await exec.repository(News2StateEntity).upsert(
      {
        patientId,
        total: state.total,
        parameters: state.parameters,
        risk: state.risk,
        assessmentId: state.assessmentId,
        urgentFlagId: state.openFlags.urgent,
        emergencyFlagId: state.openFlags.emergency,
        updatedAt: () => 'now()',
      },
      ['patientId'],
    );
  }
}
