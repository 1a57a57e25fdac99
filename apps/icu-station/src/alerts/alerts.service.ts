import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import type { News2AlertPayload } from '@hospital/fhir';
import { Database, ROOT_LOGGER, type EntityExecutor } from '@hospital/platform';
import { StationErrorCode, StationException } from './alerts.exception';
import { AlertsRepository } from './alerts.repository';
import type { AlertVia, StationAlertEntity } from './station-alert.entity';

/** What the station answers a delivery: its record of the alert, and whether it already had it. */
export interface AlertReceipt {
  receipt: string;
  idempotencyKey: string;
  alertId: string;
  level: StationAlertEntity['level'];
  receivedAt: string;
  via: AlertVia;
  duplicate: boolean;
}

/** An alert as `GET /api/alerts` shows it. */
export interface AlertView {
  receipt: string;
  idempotencyKey: string;
  alertId: string;
  level: StationAlertEntity['level'];
  flagLevel: StationAlertEntity['flagLevel'];
  bedId: string;
  patientId: string;
  assessmentId: string;
  news2Total: number;
  effectiveAt: string;
  receivedAt: string;
  via: AlertVia;
}

function receiptOf(row: StationAlertEntity, duplicate: boolean): AlertReceipt {
  return {
    receipt: row.seq,
    idempotencyKey: row.idempotencyKey,
    alertId: row.alertId,
    level: row.level,
    receivedAt: row.receivedAt.toISOString(),
    via: row.via,
    duplicate,
  };
}

export function viewOf(row: StationAlertEntity): AlertView {
  return {
    receipt: row.seq,
    idempotencyKey: row.idempotencyKey,
    alertId: row.alertId,
    level: row.level,
    flagLevel: row.flagLevel,
    bedId: row.bedId,
    patientId: row.patientId,
    assessmentId: row.assessmentId,
    news2Total: row.news2Total,
    effectiveAt: row.effectiveAt.toISOString(),
    receivedAt: row.receivedAt.toISOString(),
    via: row.via,
  };
}

/**
 * The station's record of alerts: each idempotency key recorded once (the database's unique constraint
 * decides between concurrent deliveries), a repeat answered with the original receipt.
 */
@Injectable()
export class AlertsService {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(AlertsRepository) private readonly repository: AlertsRepository,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {}

  /** Records a delivered alert under its key, or returns the receipt of the one already recorded. */
  receive(key: string, alert: News2AlertPayload, via: AlertVia): Promise<AlertReceipt> {
    return this.receiveIn(this.db, key, alert, via);
  }

  /** The same, on the executor given (reconciliation records a page in one transaction). */
  async receiveIn(
    exec: EntityExecutor,
    key: string,
    alert: News2AlertPayload,
    via: AlertVia,
  ): Promise<AlertReceipt> {
    const inserted = await this.repository.insertOnce(exec, key, alert, via);
    if (inserted !== undefined) {
      // Ids, bed and level only: the patient stays out of the log.
      this.logger.info(
        { idempotencyKey: key, alertId: alert.alertId, level: alert.level, bedId: alert.bedId, via },
        'NEWS2 alert recorded',
      );
      return receiptOf(inserted, false);
    }
    const held = await this.repository.findByKey(exec, key);
    if (held === undefined) {
      // Unique key taken but the row not visible: cannot happen outside a concurrent delete (none exist).
      throw new Error(`alert ${key.slice(0, 200)} neither inserted nor found`);
    }
    if (held.alertId !== alert.alertId || held.level !== alert.level) {
      throw new StationException(
        StationErrorCode.KeyReused,
        `idempotency key ${key.slice(0, 200)} was used for alert ${held.alertId} (${held.level})`,
        ['Idempotency-Key'],
      );
    }
    return receiptOf(held, true);
  }

  async list(
    filter: { bedId?: string; level?: string },
    limit: number,
    offset: number,
  ): Promise<{ total: number; limit: number; offset: number; alerts: AlertView[] }> {
    const page = await this.repository.list(this.db, filter, limit, offset);
    return { total: page.total, limit, offset, alerts: page.alerts.map(viewOf) };
  }
}
