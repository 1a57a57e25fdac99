import { Injectable } from '@nestjs/common';
import type { News2AlertPayload } from '@hospital/fhir';
import type { EntityExecutor } from '@hospital/platform';
import { type AlertVia, StationAlertEntity } from './station-alert.entity';
import { StationCursorEntity } from './station-cursor.entity';

/** `icu_station_alert` and `icu_station_cursor` through their entities, on the executor given. */
@Injectable()
export class AlertsRepository {
  /**
   * Records the alert under its key unless the key is already held (INSERT … ON CONFLICT DO NOTHING on the
   * unique key): the new row, or undefined when another delivery recorded it first.
   */
  async insertOnce(
    exec: EntityExecutor,
    key: string,
    alert: News2AlertPayload,
    via: AlertVia,
  ): Promise<StationAlertEntity | undefined> {
    const result = await exec
      .repository(StationAlertEntity)
      .createQueryBuilder()
      .insert()
      .values({
        idempotencyKey: key,
        alertId: alert.alertId,
        level: alert.level,
        flagLevel: alert.flagLevel,
        bedId: alert.bedId,
        patientId: alert.patientId,
        assessmentId: alert.assessmentId,
        news2Total: alert.news2Total,
        effectiveAt: new Date(alert.effectiveAt),
        via,
      })
      .orIgnore()
      .returning('seq')
      .execute();
    const inserted = (result.raw as { seq: string }[])[0];
    if (inserted === undefined) return undefined;
    return (await this.findByKey(exec, key))!;
  }

  async findByKey(exec: EntityExecutor, key: string): Promise<StationAlertEntity | undefined> {
    return (await exec.repository(StationAlertEntity).findOneBy({ idempotencyKey: key })) ?? undefined;
  }

  /** Newest first (in the order received), of one bed and level when given. */
  async list(
    exec: EntityExecutor,
    filter: { bedId?: string; level?: string },
    limit: number,
    offset: number,
  ): Promise<{ total: number; alerts: StationAlertEntity[] }> {
    const where = {
      ...(filter.bedId === undefined ? {} : { bedId: filter.bedId }),
      ...(filter.level === undefined ? {} : { level: filter.level as StationAlertEntity['level'] }),
    };
    const [alerts, total] = await exec
      .repository(StationAlertEntity)
      .findAndCount({ where, order: { seq: 'DESC' }, take: limit, skip: offset });
    return { total, alerts };
  }

  async cursorOf(exec: EntityExecutor, source: string): Promise<string | undefined> {
    return (await exec.repository(StationCursorEntity).findOneBy({ source }))?.cursor;
  }

  async saveCursor(exec: EntityExecutor, source: string, cursor: string): Promise<void> {
    await exec
      .repository(StationCursorEntity)
      .createQueryBuilder()
      .insert()
      .values({ source, cursor })
      .orUpdate(['cursor', 'updated_at'], ['source'])
      .execute();
  }
}
