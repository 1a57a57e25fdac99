import { Roles } from '@hospital/platform';
import { Controller, Get, HttpCode, Inject, Param, Post, Query, ValidationPipe } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { DeadLetteredNotification, NotificationDetail, ReconciliationPage } from '../ports/best-effort.ports';
import { NotificationBacklog } from '../adapters/postgres/postgres-notification-store';
import { Notifications } from './best-effort.notifications';

/** Receivers, channels and ids: printable, no spaces, no control characters. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/;

export class ReconciliationQuery {
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  @Matches(NAME, { message: 'receiver must be letters, digits and . _ : @ / -' })
  receiver!: string;

  /** A cursor from an earlier page (`next`), or an ISO 8601 time; absent: from the start. */
  @IsOptional()
  @IsString()
  @MaxLength(64)
  since?: string;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1_000) limit?: number;
}

export class DeadLettersQuery {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1_000) limit?: number;

  @IsOptional()
  @IsString()
  @MaxLength(100)
  @Matches(NAME, { message: 'channel must be letters, digits and . _ : @ / -' })
  channel?: string;
}

/** A query that is not the declared shape is a 400 naming each problem, never a 500. */
const strict = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  validationError: { target: false, value: false },
});

/**
 * `/api/notifications`: reconciliation for receivers (what each should have received since a point, with
 * payloads), and for operators the backlog, each notification's attempts, and the dead letters with replay.
 */
@ApiTags('notifications')
@Roles('administrator')
@Controller('api/notifications')
export class NotificationsController {
  constructor(@Inject(Notifications) private readonly notifications: Notifications) {}

  @Get()
  @ApiOperation({
    summary:
      'Reconciliation: the receiver’s notifications (every state, with payloads) in commit order after `since` ' +
      '(a cursor from an earlier page’s `next`, or an ISO 8601 time), up to `limit` (100).',
  })
  since(@Query(strict) query: ReconciliationQuery): Promise<ReconciliationPage> {
    return this.notifications.since(query.receiver, query.since, query.limit ?? 100);
  }

  @Get('backlog')
  @ApiOperation({ summary: 'Notifications pending and dead-lettered, and the oldest pending one’s age.' })
  backlog(): Promise<NotificationBacklog> {
    return this.notifications.backlog();
  }

  @Get('dead-letters')
  @ApiOperation({
    summary:
      'Dead-lettered notifications, oldest first: ids, key, receiver, channel, attempts, last error (never the payload).',
  })
  deadLetters(@Query(strict) query: DeadLettersQuery): Promise<DeadLetteredNotification[]> {
    return this.notifications.deadLetters(query.limit ?? 100, query.channel);
  }

  @Post('dead-letters/:id/replay')
  @HttpCode(200)
  @ApiOperation({ summary: 'Puts a dead letter back to be delivered now, with a fresh round of attempts.' })
  replay(@Param('id') id: string): Promise<{ id: string; replayed: true }> {
    return this.notifications.replay(id);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One notification’s state and every attempt (never the payload).' })
  find(@Param('id') id: string): Promise<NotificationDetail> {
    return this.notifications.find(id);
  }
}
