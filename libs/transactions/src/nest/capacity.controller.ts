import { Roles } from '@hospital/platform';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Query, Res } from '@nestjs/common';
import {
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import {
  CapacityClaimView,
  CapacityLevelView,
  CapacityResourceParams,
  ClaimsQuery,
  SagaAppliedView,
  SagaApplyBody,
  SagaReleaseBody,
  SagaReleasedView,
  SetCapacityBody,
  TccBranchBody,
  TccHeldView,
  TccSettledView,
  TccTryBody,
} from './capacity.dto';
import { CapacityService } from './capacity.service';
import { strictValidation } from './strict-validation';

const strict = strictValidation;

const ERRORS =
  'Errors are RFC 9457 problem documents (application/problem+json) whose `code` is the capacity error code.';
const REFUSED = 'A business refusal: not enough available, or the key or branch was released (tombstone).';

/**
 * `/api/capacity`: the participant side of a treatment plan's reservations. Resources and their levels;
 * the standard saga's apply and release (idempotent per key, an apply after its release refused); TCC's
 * Try, Confirm and Cancel behind the barrier. Each call is one local transaction.
 */
@ApiTags('capacity')
@Roles('administrator')
@Controller('api/capacity')
export class CapacityController {
  constructor(@Inject(CapacityService) private readonly capacity: CapacityService) {}

  @Get('resources/:resource')
  @ApiOperation({
    summary: 'A resource’s level: capacity, taken, held, lent, available',
    description: ERRORS,
  })
  @ApiOkResponse({ type: CapacityLevelView })
  @ApiNotFoundResponse({ description: 'No such resource' })
  level(@Param(strict) params: CapacityResourceParams): Promise<CapacityLevelView> {
    return this.capacity.level(params.resource);
  }

  @Put('resources/:resource')
  @ApiOperation({
    summary: 'Registers a resource (201) or sets its capacity (200); never below taken + held + lent (409)',
    description: `For administration, seeding and benchmarks. ${ERRORS}`,
  })
  @ApiOkResponse({ type: CapacityLevelView })
  @ApiConflictResponse({ description: 'The capacity is below what is taken, held and lent' })
  async setCapacity(
    @Param(strict) params: CapacityResourceParams,
    @Body(strict) body: SetCapacityBody,
    @Res({ passthrough: true }) response: Response,
  ): Promise<CapacityLevelView> {
    const { level, created } = await this.capacity.setCapacity(params.resource, body.capacity);
    response.status(created ? 201 : 200);
    return level;
  }

  @Get('claims')
  @ApiOperation({
    summary: 'The claims of one global transaction (plan), tombstones included',
    description: ERRORS,
  })
  @ApiOkResponse({ type: [CapacityClaimView] })
  async claims(@Query(strict) query: ClaimsQuery): Promise<CapacityClaimView[]> {
    return (await this.capacity.claims(query.gtid)).map((claim) => ({
      ...claim,
      createdAt: claim.createdAt.toISOString(),
      updatedAt: claim.updatedAt.toISOString(),
    }));
  }

  @Post('saga/apply')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Takes `units` of `resource` under `key` at once; a repeat answers the same and changes nothing',
    description: ERRORS,
  })
  @ApiOkResponse({ type: SagaAppliedView })
  @ApiNotFoundResponse({ description: 'No such resource' })
  @ApiConflictResponse({ description: REFUSED })
  sagaApply(@Body(strict) body: SagaApplyBody): Promise<SagaAppliedView> {
    return this.capacity.sagaApply(body);
  }

  @Post('saga/release')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Gives the key’s units back (idempotent); without a prior apply records the tombstone (returned 0)',
    description: ERRORS,
  })
  @ApiOkResponse({ type: SagaReleasedView })
  sagaRelease(@Body(strict) body: SagaReleaseBody): Promise<SagaReleasedView> {
    return this.capacity.sagaRelease(body);
  }

  @Post('tcc/try')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Holds `units` of `resource` for the branch; a duplicate answers the same',
    description: ERRORS,
  })
  @ApiOkResponse({ type: TccHeldView })
  @ApiNotFoundResponse({ description: 'No such resource' })
  @ApiConflictResponse({ description: `${REFUSED} A Try after its Cancel is refused.` })
  tccTry(@Body(strict) body: TccTryBody): Promise<TccHeldView> {
    return this.capacity.tccTry(body);
  }

  @Post('tcc/confirm')
  @HttpCode(200)
  @ApiOperation({ summary: 'Turns the branch’s hold into taken units, once', description: ERRORS })
  @ApiOkResponse({ type: TccSettledView })
  @ApiConflictResponse({ description: 'No Try recorded, or the branch was cancelled' })
  tccConfirm(@Body(strict) body: TccBranchBody): Promise<TccSettledView> {
    return this.capacity.tccConfirm(body);
  }

  @Post('tcc/cancel')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Gives the branch’s hold back, once; without a Try records an empty rollback (a late Try is refused)',
    description: ERRORS,
  })
  @ApiOkResponse({ type: TccSettledView })
  @ApiConflictResponse({ description: 'The branch was confirmed' })
  tccCancel(@Body(strict) body: TccBranchBody): Promise<TccSettledView> {
    return this.capacity.tccCancel(body);
  }
}
