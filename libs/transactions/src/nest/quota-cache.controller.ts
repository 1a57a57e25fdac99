import { Body, Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsInt, IsString, Matches, Max, Min } from 'class-validator';
import { SqlExecutor, Roles } from '@hospital/platform';
import { CLAIM_KEY, MAX_CLAIM_UNITS, RESOURCE_ID } from '../capacity/types';
import {
  ClaimMismatchError,
  ClaimReleasedError,
  InsufficientCapacityError,
  UnknownResourceError,
} from '../capacity/errors';
import { GTID_PATTERN } from '../core/gtid';
import { PostgresQuotaLedger } from '../adapters/postgres/postgres-quota-ledger';
import { QuotaCache, QuotaKeyConflictError } from '../quota-cache/quota-cache';
import { QuotaLevel } from '../ports/quota-cache.ports';
import { strictValidation } from './strict-validation';

export class QuotaKeyBody {
  @IsString() @Matches(CLAIM_KEY, { message: 'key must be <gtid>:<step>' }) key!: string;
  @IsString() @Matches(RESOURCE_ID, { message: 'resource must be <kind>:<id>' }) resource!: string;
}

export class ReserveQuotaBody extends QuotaKeyBody {
  @IsString() @Matches(GTID_PATTERN, { message: 'gtid is not a valid transaction id' }) gtid!: string;
  @IsInt() @Min(1) @Max(MAX_CLAIM_UNITS) units!: number;
}

export class AllocateQuotaBody {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10_000)
  @IsString({ each: true })
  @Matches(RESOURCE_ID, { each: true, message: 'each resource must be <kind>:<id>' })
  resources!: string[];
  @IsInt() @Min(1) @Max(MAX_CLAIM_UNITS) units!: number;
}

/**
 * `/api/capacity/quota`: the quota-cached saga's participant routes. Reservations, releases and holds
 * touch only the cache (Redis); the main database changes when the saga's completion event arrives.
 */
@ApiTags('capacity')
@Roles('administrator')
@Controller('api/capacity/quota')
export class QuotaCacheController {
  constructor(
    @Inject(QuotaCache) private readonly quota: QuotaCache<SqlExecutor>,
    @Inject(PostgresQuotaLedger) private readonly ledger: PostgresQuotaLedger,
  ) {}

  @Post('reserve')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Reserves units in the quota cache for a saga step (idempotent per key; 409 when not enough quota ' +
      'is left or the key was released or expired).',
  })
  async reserve(@Body(strictValidation) body: ReserveQuotaBody) {
    let answer;
    try {
      answer = await this.quota.reserve(body);
    } catch (error) {
      if (error instanceof QuotaKeyConflictError) throw new ClaimMismatchError(body.key, 'with other units');
      throw error;
    }
    if (answer.outcome === 'reserved')
      return {
        key: body.key,
        resource: body.resource,
        units: answer.units,
        epoch: answer.epoch,
        state: 'reserved',
      };
    if (answer.outcome === 'refused') throw new ClaimReleasedError(body.key);
    if (!(await this.ledger.known(body.resource))) throw new UnknownResourceError(body.resource);
    throw new InsufficientCapacityError(body.resource, body.units);
  }

  @Post('release')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Gives a reservation back to the cache (idempotent); the key is refused afterwards.',
  })
  async release(@Body(strictValidation) body: QuotaKeyBody) {
    const answer = await this.quota.release(body.resource, body.key);
    return {
      key: body.key,
      state: answer.outcome === 'already' ? answer.state : 'released',
      returned: answer.outcome === 'released' ? answer.units : 0,
    };
  }

  @Post('hold')
  @HttpCode(200)
  @ApiOperation({
    summary: 'The saga is completing: the reservation stops expiring (409 when it expired or was released).',
  })
  async hold(@Body(strictValidation) body: QuotaKeyBody) {
    const state = await this.quota.hold(body.resource, body.key);
    if (state !== 'held') throw new ClaimReleasedError(body.key);
    return { key: body.key, state };
  }

  @Post('allocate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Lends quota to the cache ahead of demand: up to `units` more of each resource.' })
  async allocate(@Body(strictValidation) body: AllocateQuotaBody) {
    return { lent: await this.quota.allocate(body.resources, body.units) };
  }

  @Get('resources/:resource')
  @ApiOperation({ summary: 'What the cache holds for a resource (null when it holds nothing).' })
  async level(@Param('resource') resource: string): Promise<{ resource: string; cache: QuotaLevel | null }> {
    if (!RESOURCE_ID.test(resource) || !(await this.ledger.known(resource)))
      throw new UnknownResourceError(resource);
    return { resource, cache: (await this.quota.level(resource)) ?? null };
  }
}
