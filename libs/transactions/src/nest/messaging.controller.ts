import { Roles } from '@hospital/platform';
import {
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
  ValidationPipe,
} from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { DeadLetterView, RabbitMqDeadLetters } from '../adapters/rabbitmq/rabbitmq-dead-letters';
import { HeldOutboxMessage, PostgresOutbox } from '../adapters/postgres/postgres-outbox';
/** The queues this service consumes, as the messaging module's runtime knows them (token MESSAGING_RUNTIME). */
export interface ConsumedQueues {
  readonly queues: string[];
}

/** The module provides its runtime under this token; the controller sees it only as ConsumedQueues. */
export const MESSAGING_RUNTIME = 'MessagingRuntime';

class LimitQuery {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
}

class ReplayBody {
  @IsOptional() @IsInt() @Min(1) @Max(10_000) limit?: number;
}

/** A query or body that is not the declared shape is a 400 naming each problem, never a 500. */
const strict = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  validationError: { target: false, value: false },
});

/**
 * `/api/messages`: the outbox backlog and its messages held as unroutable (inspect, retry), and each
 * consumer queue's dead letters (inspect, replay).
 */
@ApiTags('messages')
@Roles('administrator')
@Controller('api/messages')
export class MessagingController {
  constructor(
    @Inject(PostgresOutbox) private readonly outbox: PostgresOutbox,
    @Inject(RabbitMqDeadLetters) private readonly deadLetters: RabbitMqDeadLetters,
    @Inject(MESSAGING_RUNTIME) private readonly runtime: ConsumedQueues,
  ) {}

  @Get('outbox')
  @ApiOperation({
    summary:
      'Messages written but not yet delivered to a queue, the oldest one’s age, and how many of them are held ' +
      'because the broker routed them to no queue.',
  })
  backlog(): Promise<{ pending: number; oldestAgeMs: number; held: number }> {
    return this.outbox.backlog();
  }

  @Get('outbox/held')
  @ApiOperation({
    summary:
      'Messages the broker routed to no queue (no queue bound to their exchange and routing key), held and ' +
      'retried with back-off: ids, type, destination, attempts and the broker’s answer (never the payload).',
  })
  held(@Query(strict) query: LimitQuery): Promise<HeldOutboxMessage[]> {
    return this.outbox.held(query.limit ?? 100);
  }

  @Post('outbox/held/retry')
  @HttpCode(200)
  @ApiOperation({ summary: 'Publishes every held message again now (after binding the missing queue).' })
  async retryHeld(): Promise<{ retried: number }> {
    return { retried: await this.outbox.retryHeld() };
  }

  @Get('dead-letters')
  @ApiOperation({ summary: 'Dead-letter queue depth of every queue this service consumes.' })
  async queues(): Promise<{ queue: string; deadLetters: number }[]> {
    return Promise.all(
      this.runtime.queues.map(async (queue) => ({ queue, deadLetters: await this.deadLetters.depth(queue) })),
    );
  }

  @Get('dead-letters/:queue')
  @ApiOperation({ summary: 'Dead letters of one queue: ids, type, gtid and reason (never the payload).' })
  list(@Param('queue') queue: string, @Query(strict) query: LimitQuery): Promise<DeadLetterView[]> {
    this.known(queue);
    return this.deadLetters.list(queue, query.limit ?? 100);
  }

  @Post('dead-letters/:queue/replay')
  @HttpCode(200)
  @ApiOperation({ summary: 'Moves dead letters back to their queue, to be applied (once) this time.' })
  async replay(@Param('queue') queue: string, @Body(strict) body: ReplayBody): Promise<{ replayed: number }> {
    this.known(queue);
    return { replayed: await this.deadLetters.replay(queue, body.limit ?? 100) };
  }

  private known(queue: string): void {
    if (!this.runtime.queues.includes(queue))
      throw new NotFoundException(`this service consumes no queue named '${queue}'`);
  }
}
