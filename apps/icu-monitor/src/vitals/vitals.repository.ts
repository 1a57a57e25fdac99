import { Injectable } from '@nestjs/common';
import { In } from 'typeorm';
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

function stateOf(row: News2StateEntity): News2State {
  return {
    total: row.total,
    parameters: row.parameters,
    risk: row.risk,
    assessmentId: row.assessmentId,
    openFlags: { urgent: row.urgentFlagId, emergency: row.emergencyFlagId },
  };
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
 * vitals' transaction (which holds the beds' locks: one patient's rows change one group at a time). The
 * `…Many` methods read or write the rows of every patient of a group in one statement.
 */
@Injectable()
export class VitalsRepository {
  /** Each patient's latest readings (patients without any are absent). */
  async latestOfMany(
    exec: EntityExecutor,
    patientIds: readonly string[],
  ): Promise<Map<string, LatestVital[]>> {
    const rows = await exec
      .repository(LatestVitalEntity)
      .find({ where: { patientId: In(patientIds) }, order: { patientId: 'ASC', parameter: 'ASC' } });
    const latest = new Map<string, LatestVital[]>();
    for (const row of rows) latest.set(row.patientId, [...(latest.get(row.patientId) ?? []), latestOf(row)]);
    return latest;
  }

  /** Makes each vital its patient's latest reading of its parameter (one row per patient and parameter). */
  async saveLatestMany(
    exec: EntityExecutor,
    vitals: readonly { patientId: string; vital: LatestVital }[],
  ): Promise<void> {
    if (vitals.length === 0) return;
    await exec.repository(LatestVitalEntity).upsert(
      vitals.map(({ patientId, vital }) => latestRowOf(patientId, vital)),
      ['patientId', 'parameter'],
    );
  }

  /** Each patient's recorded NEWS2 state (patients never scored are absent). */
  async statesOf(exec: EntityExecutor, patientIds: readonly string[]): Promise<Map<string, News2State>> {
    const rows = await exec.repository(News2StateEntity).findBy({ patientId: In(patientIds) });
    return new Map(rows.map((row) => [row.patientId, stateOf(row)]));
  }

  async saveStateMany(
    exec: EntityExecutor,
    states: readonly { patientId: string; state: News2State }[],
  ): Promise<void> {
    if (states.length === 0) return;
    await exec.repository(News2StateEntity).upsert(
      states.map(({ patientId, state }) => stateRowOf(patientId, state)),
      ['patientId'],
    );
  }
}

function latestRowOf(patientId: string, vital: LatestVital): Partial<LatestVitalEntity> {
  const numeric = typeof vital.value === 'number';
  return {
    patientId,
    parameter: vital.parameter,
    value: numeric ? (vital.value as number) : null,
    code: numeric ? null : (vital.value as LatestVitalEntity['code']),
    effectiveAt: vital.effectiveAt,
    observationId: vital.observationId,
  };
}

function stateRowOf(patientId: string, state: News2State) {
  return {
    patientId,
    total: state.total,
    parameters: state.parameters,
    risk: state.risk,
    assessmentId: state.assessmentId,
    urgentFlagId: state.openFlags.urgent,
    emergencyFlagId: state.openFlags.emergency,
    updatedAt: () => 'now()',
  };
}
