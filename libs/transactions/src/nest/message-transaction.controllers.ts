import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  PipeTransform,
  Post,
  Query,
  UseGuards,
  ValidationPipe,
} from '@nestjs/common';
import { ApiExcludeController, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import {
  Caller,
  forbiddenCaller,
  ServiceAuthGuard,
  ServiceCaller,
  Session,
  ServiceRoute,
  Roles,
} from '@hospital/platform';
import { Type } from 'class-transformer';
import {
  IsDefined,
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { isValidGtid } from '../core/gtid';
import {
  MESSAGE_STATES,
  MessageRecord,
  MessageState,
  PreparedMessage,
} from '../ports/message-transaction.ports';
import {
  MessageOutcomeAnswer,
  MessageStateAnswer,
  PrepareMessageBody,
} from '../adapters/http/message-transaction.http';
import { MessageTransactionProducer } from '../message-transaction/producer';
import { MessageTransactionServer } from '../message-transaction/server';
import {
  MessageConflictError,
  NotMessageProducerError,
  UnknownMessageError,
} from '../message-transaction/types';

/** Validates the `:gtid` path parameter. */
class GtidPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!isValidGtid(value))
      throw new BadRequestException('gtid must be 1–64 characters of letters, digits and . _ : -');
    return value;
  }
}

const SERVICE_NAME = /^[a-z][a-z0-9-]{0,39}$/;
const MESSAGE_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
/** Exchange names, routing keys and event types: AMQP short strings without spaces. */
const AMQP_NAME = /^[A-Za-z0-9._:#*-]*$/;

/** Rejects unknown fields and anything that is not the declared shape, with every problem named. */
const strictBody = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  validationError: { target: false, value: false },
});

export class PrepareMessageDto implements PrepareMessageBody {
  @IsString()
  @Matches(MESSAGE_ID, { message: 'id must be 1–128 characters of letters, digits and . _ : @ -' })
  id!: string;

  /** Must be the authenticated caller. There is no check-back address: the server has its own. */
  @IsString()
  @Matches(SERVICE_NAME, { message: 'producer must be a service name' })
  producer!: string;

  @IsString() @MinLength(1) @MaxLength(255) @Matches(AMQP_NAME) exchange!: string;
  @IsString() @MaxLength(255) @Matches(AMQP_NAME) routingKey!: string;
  @IsString() @MinLength(1) @MaxLength(255) @Matches(AMQP_NAME) type!: string;
  @IsString() @MinLength(1) @MaxLength(255) aggregateId!: string;

  /** Any JSON value but null. Never logged. */
  @IsDefined() payload!: unknown;
}

export class MessageListQuery {
  @IsOptional() @IsIn(MESSAGE_STATES) state?: MessageState;
  @IsOptional() @Matches(SERVICE_NAME, { message: 'producer must be a service name' }) producer?: string;
  @IsOptional() @IsISO8601({}, { message: 'before must be an ISO instant' }) before?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit?: number;
}

/** A message as `/api/message-transactions` shows it; the payload only when one message is asked for. */
export interface MessageView extends Omit<
  MessageRecord,
  'payload' | 'createdAt' | 'updatedAt' | 'nextCheckAt'
> {
  createdAt: string;
  updatedAt: string;
  nextCheckAt?: string;
  payload?: unknown;
}

function view(record: MessageRecord, withPayload: boolean): MessageView {
  const { payload, createdAt, updatedAt, nextCheckAt, ...rest } = record;
  return {
    ...rest,
    createdAt: createdAt.toISOString(),
    updatedAt: updatedAt.toISOString(),
    ...(nextCheckAt ? { nextCheckAt: nextCheckAt.toISOString() } : {}),
    ...(withPayload ? { payload } : {}),
  };
}

/** Runs a server call, mapping its typed errors to HTTP (anything else stays a 500). */
async function mapped<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof UnknownMessageError) throw new NotFoundException(error.message);
    if (error instanceof MessageConflictError) throw new ConflictException(error.message);
    if (error instanceof NotMessageProducerError) throw forbiddenCaller(error.message);
    throw error;
  }
}

/** Provider token of the message server's producer directory: producer name → check-back base URL. */
export const MESSAGE_PRODUCERS = Symbol('MESSAGE_PRODUCERS');

/**
 * The server side of the two-phase message HTTP contract (see adapters/http/message-transaction.http.ts).
 * Only services with a valid service token reach it. A producer is the authenticated caller: it must have
 * a check-back address in the server's configuration to prepare, and may submit or abort only its own
 * messages.
 */
@ApiExcludeController()
@UseGuards(ServiceAuthGuard)
@ServiceRoute()
@Controller('internal/message-transactions')
export class MessageServerController {
  constructor(
    @Inject(MessageTransactionServer) private readonly server: MessageTransactionServer,
    @Inject(MESSAGE_PRODUCERS) private readonly producers: Readonly<Record<string, string>>,
  ) {}

  @Post(':gtid/prepare')
  @HttpCode(200)
  async prepare(
    @Param('gtid', GtidPipe) gtid: string,
    @Body(strictBody) body: PrepareMessageDto,
    @Caller() caller: ServiceCaller,
  ): Promise<MessageStateAnswer> {
    if (body.producer !== caller.name)
      throw forbiddenCaller(`${caller.name} may not prepare messages for producer ${body.producer}`);
    const checkBackUrl = Object.hasOwn(this.producers, caller.name) ? this.producers[caller.name] : undefined;
    if (checkBackUrl === undefined) {
      throw forbiddenCaller(
        `producer ${caller.name} has no check-back address in this server's configuration (MESSAGE_PRODUCERS)`,
      );
    }
    const message: PreparedMessage = { ...body, gtid, checkBackUrl };
    return { state: await mapped(this.server.prepare(message)) };
  }

  @Post(':gtid/submit')
  @HttpCode(200)
  async submit(
    @Param('gtid', GtidPipe) gtid: string,
    @Caller() caller: ServiceCaller,
  ): Promise<MessageStateAnswer> {
    return { state: await mapped(this.server.submit(gtid, caller.name)) };
  }

  @Post(':gtid/abort')
  @HttpCode(200)
  async abort(
    @Param('gtid', GtidPipe) gtid: string,
    @Caller() caller: ServiceCaller,
  ): Promise<MessageStateAnswer> {
    return { state: await mapped(this.server.abort(gtid, caller.name)) };
  }
}

/** Admin API of the two-phase message server: its messages, their state, attempts and last error. */
@ApiTags('message-transactions')
@Roles('administrator')
@Controller('api/message-transactions')
export class MessageTransactionsController {
  constructor(@Inject(MessageTransactionServer) private readonly server: MessageTransactionServer) {}

  @Get()
  @ApiOperation({ summary: 'List two-phase messages, newest first (without payloads)' })
  @ApiQuery({ name: 'state', required: false, enum: MESSAGE_STATES })
  @ApiQuery({ name: 'producer', required: false })
  @ApiQuery({ name: 'before', required: false, description: 'ISO instant: only messages created before it' })
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  })
  async list(@Query(strictBody) query: MessageListQuery): Promise<MessageView[]> {
    const records = await this.server.list({
      state: query.state,
      producer: query.producer,
      before: query.before,
      limit: query.limit ?? 50,
    });
    return records.map((r) => view(r, false));
  }

  @Get(':gtid')
  @ApiOperation({ summary: 'One two-phase message: state, destination, payload, attempts, last error' })
  async get(@Param('gtid', GtidPipe) gtid: string): Promise<MessageView> {
    const record = await this.server.get(gtid);
    if (!record) throw new NotFoundException(`no message ${gtid}`);
    return view(record, true);
  }
}

/** Provider token of the name of the message server a producer answers check-backs from. */
export const MESSAGE_SERVER_NAME = Symbol('MESSAGE_SERVER_NAME');

/**
 * The producer's check-back route: the server asks here whether a message's local transaction committed.
 * A POST (the answer settles the barrier, writing `rollback` when the transaction never ran), reachable
 * only with a service token of the producer's own message server.
 */
@ApiExcludeController()
@UseGuards(ServiceAuthGuard)
@ServiceRoute()
@Controller('internal/message-transactions')
export class MessageCheckBackController {
  constructor(
    @Inject(MessageTransactionProducer) private readonly producer: MessageTransactionProducer<Session>,
    @Inject(MESSAGE_SERVER_NAME) private readonly server: string,
  ) {}

  @Post(':gtid/outcome')
  @HttpCode(200)
  async outcome(
    @Param('gtid', GtidPipe) gtid: string,
    @Caller() caller: ServiceCaller,
  ): Promise<MessageOutcomeAnswer> {
    if (caller.name !== this.server)
      throw forbiddenCaller(`${caller.name} is not this producer's message server`);
    return { outcome: await this.producer.outcome(gtid) };
  }
}
