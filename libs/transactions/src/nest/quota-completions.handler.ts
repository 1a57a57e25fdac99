import { Inject, Injectable } from '@nestjs/common';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { Session, SqlExecutor } from '@hospital/platform';
import { CLAIM_KEY, MAX_CLAIM_UNITS, RESOURCE_ID } from '../capacity/types';
import { GTID_PATTERN } from '../core/gtid';
import { InboundMessage } from '../ports/messaging.ports';
import { MessageHandler, parseMessagePayload } from '../outbox/inbox-consumer';
import { QuotaCache } from '../quota-cache/quota-cache';
import { QUOTA_COMPLETIONS_EXCHANGE, quotaCompletedRoutingKey } from '../quota-cache/completion-messages';
import { ConsumerDefinition } from './messaging.module';

class CompletedReservation {
  @IsString() @Matches(CLAIM_KEY) key!: string;
  @IsString() @Matches(RESOURCE_ID) resource!: string;
  @IsInt() @Min(1) @Max(MAX_CLAIM_UNITS) units!: number;
  @IsString() @Matches(/^[A-Za-z0-9-]{1,64}$/) epoch!: string;
}

/** A completed quota-cached saga's reservations at one participant. */
export class QuotaReservationsCompleted {
  @IsString() @Matches(GTID_PATTERN) gtid!: string;
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @ValidateNested({ each: true })
  @Type(() => CompletedReservation)
  reservations!: CompletedReservation[];
}

/**
 * The commit-sync consumer: applies a completed saga's reservations to the main database in the inbox
 * transaction — each reservation key once, however often the event is delivered — moving their units
 * from lent to taken. The sweeper then settles them out of the cache.
 */
@Injectable()
export class QuotaCompletionsHandler implements MessageHandler<Session> {
  constructor(@Inject(QuotaCache) private readonly quota: QuotaCache<SqlExecutor>) {}

  async handle(tx: Session, message: InboundMessage): Promise<void> {
    const event = parseMessagePayload(QuotaReservationsCompleted, message);
    await this.quota.applyCompleted(
      tx,
      event.reservations.map((r) => ({ ...r, gtid: event.gtid })),
    );
  }
}

/** The consumer a participant lists in its `MessagingModule.forRoot({ consumers })`. */
export function quotaCompletionsConsumer(participant: string): ConsumerDefinition {
  return {
    queue: `${participant}.quota-completions`,
    bindings: [{ exchange: QUOTA_COMPLETIONS_EXCHANGE, routingKey: quotaCompletedRoutingKey(participant) }],
    handler: QuotaCompletionsHandler,
  };
}
