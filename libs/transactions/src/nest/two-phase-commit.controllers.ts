import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  ParseIntPipe,
  Post,
  Query,
  DefaultValuePipe,
  UseGuards,
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
import { isValidGtid } from '../core/gtid';
import { errorMessage, TransactionStyle } from '../core/observer';
import { CompositeTransactionBrowser } from '../core/transaction-browsers';
import { ListedTransaction, TransactionBrowser } from '../ports/global-transaction';
import { TwoPhaseCoordinator } from '../two-phase-commit/coordinator';
import { TwoPhaseParticipant } from '../two-phase-commit/participant';
import { CommitAck, Decision, Vote } from '../two-phase-commit/types';
import { isRecord } from '../adapters/http/http-json';
import { BatchResult } from '../adapters/http/two-phase-commit.http';

/** A 2PC or 3PC module's own log, as it reads it (the in-doubt inquiry asks it who takes part). */
export const TRANSACTION_BROWSER = Symbol('TRANSACTION_BROWSER');

function gtidParam(gtid: string): string {
  if (!isValidGtid(gtid))
    throw new BadRequestException('gtid must be 1–64 characters of letters, digits and . _ : -');
  return gtid;
}

const COORDINATOR_NAME = /^[a-z][a-z0-9-]{0,39}$/;

/**
 * The `coordinator` of a request body: required for prepare, optional for commit and abort (the caller
 * then). A service acts only for itself: a coordinator named in the body must be the authenticated caller,
 * so no service can prepare, commit or abort branches filed under another coordinator.
 */
function coordinatorOf(body: unknown, required: boolean, caller: ServiceCaller): string {
  const value = isRecord(body) ? body.coordinator : undefined;
  if (value === undefined && !required) return caller.name;
  if (typeof value !== 'string' || !COORDINATOR_NAME.test(value)) {
    throw new BadRequestException('coordinator must be a service name');
  }
  if (value !== caller.name) throw forbiddenCaller(`${caller.name} may not act for coordinator ${value}`);
  return value;
}

/**
 * Participant side of the 2PC HTTP contract (see adapters/http/two-phase-commit.http.ts). Only services
 * with a valid service token reach it, each for its own transactions only.
 */
@ApiExcludeController()
@UseGuards(ServiceAuthGuard)
@ServiceRoute()
@Controller('internal/2pc')
export class TwoPhaseParticipantController {
  constructor(@Inject(TwoPhaseParticipant) private readonly participant: TwoPhaseParticipant<Session>) {}

  /** Several operations of one coordinator, answered one result each, in order (run side by side). */
  @Post('batch')
  @HttpCode(200)
  async batch(@Body() body: unknown, @Caller() caller: ServiceCaller): Promise<{ results: BatchResult[] }> {
    const coordinator = coordinatorOf(body, true, caller);
    const ops = isRecord(body) ? body.ops : undefined;
    if (!Array.isArray(ops) || ops.length === 0 || ops.length > 256) {
      throw new BadRequestException('batch needs {coordinator, ops: [1..256 operations]}');
    }
    const results = await Promise.all(
      ops.map(async (op: unknown): Promise<BatchResult> => {
        try {
          if (!isRecord(op) || !isValidGtid(op.gtid)) return { error: 'operation needs a valid gtid' };
          switch (op.op) {
            case 'prepare':
              return await this.participant.prepare(op.gtid, coordinator, op.payload);
            case 'commit':
              return { ack: await this.participant.commit(op.gtid, coordinator) };
            case 'abort':
              await this.participant.abort(op.gtid, coordinator);
              return { ack: 'aborted' };
            default:
              return { error: 'op must be prepare, commit or abort' };
          }
        } catch (error) {
          return { error: errorMessage(error) };
        }
      }),
    );
    return { results };
  }

  @Post(':gtid/prepare')
  @HttpCode(200)
  prepare(
    @Param('gtid') gtid: string,
    @Body() body: unknown,
    @Caller() caller: ServiceCaller,
  ): Promise<Vote> {
    const coordinator = coordinatorOf(body, true, caller);
    if (!isRecord(body)) throw new BadRequestException('prepare needs {coordinator, payload}');
    return this.participant.prepare(gtidParam(gtid), coordinator, body.payload);
  }

  @Post(':gtid/commit')
  @HttpCode(200)
  async commit(
    @Param('gtid') gtid: string,
    @Body() body: unknown,
    @Caller() caller: ServiceCaller,
  ): Promise<{ ack: CommitAck }> {
    return { ack: await this.participant.commit(gtidParam(gtid), coordinatorOf(body, false, caller)) };
  }

  @Post(':gtid/abort')
  @HttpCode(200)
  async abort(
    @Param('gtid') gtid: string,
    @Body() body: unknown,
    @Caller() caller: ServiceCaller,
  ): Promise<{ ack: 'aborted' }> {
    await this.participant.abort(gtidParam(gtid), coordinatorOf(body, false, caller));
    return { ack: 'aborted' };
  }
}

/**
 * Coordinator side: participants ask here about branches they hold in doubt. A POST, and behind the
 * service token: under presumed abort the answer records an ABORT when there is no decision yet, so only
 * a participant of the transaction may ask (a transaction the log does not hold has no participants to
 * check: its inquiry records the abort presumed anyway).
 */
@ApiExcludeController()
@UseGuards(ServiceAuthGuard)
@ServiceRoute()
@Controller('internal/2pc')
export class TwoPhaseCoordinatorController {
  constructor(
    @Inject(TwoPhaseCoordinator) private readonly coordinator: TwoPhaseCoordinator<Session>,
    @Inject(TRANSACTION_BROWSER) private readonly transactions: TransactionBrowser,
  ) {}

  @Post(':gtid/outcome')
  @HttpCode(200)
  async outcome(
    @Param('gtid') gtid: string,
    @Caller() caller: ServiceCaller,
  ): Promise<{ decision: Decision }> {
    const record = await this.transactions.get(gtidParam(gtid));
    if (record && !record.branches.some((branch) => branch.participant === caller.name)) {
      throw forbiddenCaller(`${caller.name} takes no part in global transaction ${gtid}`);
    }
    return { decision: await this.coordinator.outcome(gtid) };
  }
}

const STYLES: TransactionStyle[] = [
  '2pc',
  '3pc',
  'tcc',
  'saga',
  'quota-saga',
  'outbox',
  'message',
  'best-effort',
];

/**
 * Admin API: the global transactions this service coordinates, whatever their style, their state,
 * branches, timeline and retries. Registered once per service by `TransactionsApiModule`, over every log
 * its modules added.
 */
@ApiTags('transactions')
@Roles('administrator')
@Controller('api/transactions')
export class TransactionsController {
  constructor(@Inject(CompositeTransactionBrowser) private readonly browser: CompositeTransactionBrowser) {}

  @Get()
  @ApiOperation({ summary: 'List global transactions, newest first' })
  @ApiQuery({ name: 'style', required: false, enum: STYLES })
  @ApiQuery({ name: 'state', required: false })
  @ApiQuery({
    name: 'before',
    required: false,
    description: 'ISO instant: only transactions created before it',
  })
  @ApiQuery({
    name: 'correlationId',
    required: false,
    description: 'Only the transactions a client started with this x-correlation-id (or x-gtid) header',
  })
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  })
  list(
    @Query('style') style?: string,
    @Query('state') state?: string,
    @Query('before') before?: string,
    @Query('limit', new DefaultValuePipe(50), ParseIntPipe) limit = 50,
    @Query('correlationId') correlationId?: string,
  ): Promise<ListedTransaction[]> {
    if (style !== undefined && !STYLES.includes(style as TransactionStyle)) {
      throw new BadRequestException(`style must be one of ${STYLES.join(', ')}`);
    }
    if (before !== undefined && Number.isNaN(Date.parse(before)))
      throw new BadRequestException('before must be an ISO instant');
    if (state !== undefined && !/^[a-z-]{1,30}$/.test(state))
      throw new BadRequestException('state is not a transaction state');
    if (limit < 1 || limit > 500) throw new BadRequestException('limit must be between 1 and 500');
    if (correlationId !== undefined && !isValidGtid(correlationId))
      throw new BadRequestException('correlationId must be 1–64 letters, digits or . _ : -');
    return this.browser.list({
      style: style as TransactionStyle | undefined,
      state,
      before,
      limit,
      correlationId,
    });
  }

  @Get(':gtid')
  @ApiOperation({ summary: 'One global transaction: state, branches, timeline, retries' })
  async get(@Param('gtid') gtid: string): Promise<ListedTransaction> {
    const record = await this.browser.get(gtidParam(gtid));
    if (!record) throw new NotFoundException(`no global transaction ${gtid}`);
    return record;
  }
}
