import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Inject,
  Post,
  Query,
  Res,
  UseGuards,
  ValidationPipe,
} from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ServiceAuthGuard, ServiceRoute, RequireScopes, Roles } from '@hospital/platform';
import { AuditedRoute } from '@hospital/transactions';
import { StationErrorCode, StationException } from './alerts.exception';
import { type AlertReceipt, AlertsService, type AlertView } from './alerts.service';
import { AlertNotificationDto, IDEMPOTENCY_KEY } from './dto/alert-notification.dto';
import { AlertsQuery } from './dto/alerts.query';
import { type ReconciliationRun, StationReconciler } from './station.reconciler';

/** A body or query that is not the declared shape is a 400 naming each problem. */
const strict = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  validationError: { target: false, value: false },
});

/**
 * `POST /internal/alerts`: the monitor's best-effort notifications, behind the platform's service token.
 * 201 with a receipt for a new key, 200 with the original receipt for a key already recorded.
 */
@ApiTags('alerts')
@ServiceRoute()
@Controller('internal/alerts')
@UseGuards(ServiceAuthGuard)
export class InternalAlertsController {
  constructor(@Inject(AlertsService) private readonly alerts: AlertsService) {}

  @Post()
  @AuditedRoute({ action: 'C', interaction: 'alert-receive', patientField: 'patientId' })
  @ApiOperation({ summary: 'Record a NEWS2 alert transition once per Idempotency-Key (service token)' })
  @ApiHeader({ name: 'Idempotency-Key', required: true })
  async receive(
    @Headers('idempotency-key') key: string | undefined,
    @Body(strict) alert: AlertNotificationDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<AlertReceipt> {
    if (key === undefined || !IDEMPOTENCY_KEY.test(key))
      throw new StationException(
        StationErrorCode.MissingIdempotencyKey,
        'an Idempotency-Key header is required: letters, digits and . _ : @ / -, up to 200',
        ['Idempotency-Key'],
      );
    const receipt = await this.alerts.receive(key, alert, 'push');
    response.status(receipt.duplicate ? 200 : 201);
    return receipt;
  }
}

/** `/api/alerts`: what the station has received, for its screens and operators. */
@ApiTags('alerts')
@Controller('api/alerts')
export class AlertsController {
  constructor(
    @Inject(AlertsService) private readonly alerts: AlertsService,
    @Inject(StationReconciler) private readonly reconciler: StationReconciler,
  ) {}

  @RequireScopes('user/Flag.rs')
  @Get()
  @AuditedRoute({ action: 'R', interaction: 'alert-list', patientField: 'patientId' })
  @ApiOperation({ summary: 'Alerts received, newest first; filter by bedId and level; limit/offset pages' })
  list(
    @Query(strict) query: AlertsQuery,
  ): Promise<{ total: number; limit: number; offset: number; alerts: AlertView[] }> {
    return this.alerts.list({ bedId: query.bedId, level: query.level }, query.limit ?? 50, query.offset ?? 0);
  }

  @Roles('administrator')
  @Post('reconcile')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Ask the monitor for every alert since the last cursor and record the missed ones (502 if it is unreachable)',
  })
  reconcile(): Promise<ReconciliationRun> {
    return this.reconciler.reconcile();
  }
}
