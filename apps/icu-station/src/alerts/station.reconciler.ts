import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import type { Logger } from 'pino';
import { NEWS2_ALERT_RECEIVER, NEWS2_ALERT_TYPE } from '@hospital/fhir';
import {
  Database,
  environmentOf,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  serviceCredentials,
  type ServiceConfig,
} from '@hospital/platform';
import { callPeer, isRecord, newGtid } from '@hospital/transactions';
import { IcuStationEnvironment } from '../config';
import { StationErrorCode, StationException } from './alerts.exception';
import { AlertsRepository } from './alerts.repository';
import { AlertsService } from './alerts.service';
import { AlertNotificationDto, IDEMPOTENCY_KEY } from './dto/alert-notification.dto';

/** The monitor's service name: the peer asked (`ICU_MONITOR_URL`), and the cursor's source. */
const MONITOR = 'icu-monitor';

/** What one reconciliation did. */
export interface ReconciliationRun {
  pages: number;
  /** Notifications the monitor listed for the station. */
  fetched: number;
  /** Alerts recorded now: the station had missed them. */
  recorded: number;
  /** Alerts already held (delivered, or recorded by an earlier run). */
  held: number;
  /** Notifications skipped: not an alert, or a payload out of contract. */
  skipped: number;
  cursor: string | null;
}

interface Page {
  notifications: Record<string, unknown>[];
  next: string;
}

function pageOf(body: unknown): Page {
  if (!isRecord(body) || !Array.isArray(body.notifications) || typeof body.next !== 'string')
    throw new StationException(StationErrorCode.ReconciliationFailed, 'the monitor answered out of contract');
  return { notifications: body.notifications.filter(isRecord), next: body.next };
}

/**
 * The paper's reconciliation: the station asks the monitor's `GET /api/notifications` for every alert
 * notification since its last cursor (kept in `icu_station_cursor`) and records those it missed, a page
 * per transaction with the cursor, so a crash resumes where the last recorded page ended. At start (the
 * station was down), every `STATION_RECONCILE_INTERVAL_MS`, and on `POST /api/alerts/reconcile`.
 */
@Injectable()
export class StationReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly env: IcuStationEnvironment;
  private readonly url: string;
  private running?: Promise<ReconciliationRun>;
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: ServiceConfig,
    @Inject(Database) private readonly db: Database,
    @Inject(AlertsRepository) private readonly repository: AlertsRepository,
    @Inject(AlertsService) private readonly alerts: AlertsService,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {
    this.env = environmentOf(config, IcuStationEnvironment);
    this.url = new URL('/api/notifications', config.peers[MONITOR]).toString();
  }

  onApplicationBootstrap(): void {
    if (this.env.STATION_RECONCILE !== 'true') return;
    // In the background: a station whose monitor is down still starts and takes deliveries.
    void this.reconcileQuietly();
    if (this.env.STATION_RECONCILE_INTERVAL_MS > 0) {
      this.timer = setInterval(() => void this.reconcileQuietly(), this.env.STATION_RECONCILE_INTERVAL_MS);
      this.timer.unref();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Runs one reconciliation (or joins the one running). */
  reconcile(): Promise<ReconciliationRun> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async reconcileQuietly(): Promise<void> {
    try {
      const run = await this.reconcile();
      if (run.recorded > 0) this.logger.info({ ...run }, 'reconciled missed alerts');
    } catch (error) {
      this.logger.warn(
        { reason: error instanceof Error ? error.message : String(error) },
        'reconciliation failed',
      );
    }
  }

  private async run(): Promise<ReconciliationRun> {
    const run: ReconciliationRun = { pages: 0, fetched: 0, recorded: 0, held: 0, skipped: 0, cursor: null };
    let cursor = await this.repository.cursorOf(this.db, MONITOR);
    for (;;) {
      const page = await this.fetch(cursor);
      run.pages += 1;
      run.fetched += page.notifications.length;
      await this.db.transaction(async (tx) => {
        for (const notification of page.notifications) {
          const alert = this.alertOf(notification);
          if (alert === undefined) {
            run.skipped += 1;
            continue;
          }
          const receipt = await this.alerts.receiveIn(tx, alert.key, alert.payload, 'reconciliation');
          if (receipt.duplicate) run.held += 1;
          else run.recorded += 1;
        }
        await this.repository.saveCursor(tx, MONITOR, page.next);
      });
      cursor = page.next;
      run.cursor = cursor;
      if (page.notifications.length < this.env.STATION_RECONCILE_PAGE) return run;
    }
  }

  private async fetch(cursor: string | undefined): Promise<Page> {
    const query = new URLSearchParams({
      receiver: NEWS2_ALERT_RECEIVER,
      limit: String(this.env.STATION_RECONCILE_PAGE),
    });
    if (cursor !== undefined) query.set('since', cursor);
    try {
      const body = await callPeer(`${this.url}?${query.toString()}`, newGtid(), {
        method: 'GET',
        timeoutMs: 10_000,
        headers: { authorization: serviceCredentials(this.config).authorization(MONITOR) },
      });
      return pageOf(body);
    } catch (error) {
      if (error instanceof StationException) throw error;
      throw new StationException(
        StationErrorCode.ReconciliationFailed,
        `the monitor could not be asked: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  /** The alert a listed notification carries, or undefined when it is not one the station takes. */
  private alertOf(
    notification: Page['notifications'][number],
  ): { key: string; payload: AlertNotificationDto } | undefined {
    const key = notification.idempotencyKey;
    if (notification.type !== NEWS2_ALERT_TYPE || typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key))
      return undefined;
    if (!isRecord(notification.payload)) return undefined;
    const payload = plainToInstance(AlertNotificationDto, notification.payload);
    const problems = validateSync(payload, { whitelist: true, forbidNonWhitelisted: true });
    if (problems.length > 0) {
      this.logger.warn({ idempotencyKey: key }, 'reconciled notification out of contract, skipped');
      return undefined;
    }
    return { key, payload };
  }
}
