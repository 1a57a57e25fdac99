import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsString, Matches, Max, Min } from 'class-validator';
import { GTID_PATTERN } from '../core/gtid';
import {
  BRANCH_NAME,
  CLAIM_KEY,
  ClaimMode,
  ClaimState,
  MAX_CAPACITY,
  MAX_CLAIM_UNITS,
  RESOURCE_ID,
} from '../capacity/types';

const RESOURCE_EXAMPLE = 'drug:197361@ward-3a';

const resource = () =>
  Matches(RESOURCE_ID, {
    message: 'resource must be <kind>:<id> (letters, digits and . _ : @ -, at most 120)',
  });
const gtid = () => Matches(GTID_PATTERN, { message: 'gtid must be 1–64 letters, digits and . _ : -' });
const key = () => Matches(CLAIM_KEY, { message: 'key must be 1–160 letters, digits and . _ : @ / -' });
const branch = () => Matches(BRANCH_NAME, { message: 'branch must be 1–64 letters, digits and . _ : -' });

export class CapacityResourceParams {
  @ApiProperty({ example: RESOURCE_EXAMPLE })
  @IsString()
  @resource()
  resource!: string;
}

export class SetCapacityBody {
  @ApiProperty({ description: 'Units offered in all', minimum: 0, maximum: MAX_CAPACITY, example: 40 })
  @IsInt()
  @Min(0)
  @Max(MAX_CAPACITY)
  capacity!: number;
}

export class ClaimsQuery {
  @ApiProperty({ description: 'The global transaction (plan) whose claims to list' })
  @IsString()
  @gtid()
  gtid!: string;
}

export class SagaApplyBody {
  @ApiProperty({
    description: '`<gtid>:<step>`: the apply is idempotent per key',
    example: 'c0ffee:imaging',
  })
  @IsString()
  @key()
  key!: string;

  @ApiProperty({ example: 'c0ffee' }) @IsString() @gtid() gtid!: string;

  @ApiProperty({ example: RESOURCE_EXAMPLE }) @IsString() @resource() resource!: string;

  @ApiProperty({ minimum: 1, maximum: MAX_CLAIM_UNITS, example: 2 })
  @IsInt()
  @Min(1)
  @Max(MAX_CLAIM_UNITS)
  units!: number;
}

export class SagaReleaseBody {
  @ApiProperty({ example: 'c0ffee:imaging' }) @IsString() @key() key!: string;
  @ApiProperty({ example: 'c0ffee' }) @IsString() @gtid() gtid!: string;
}

export class TccBranchBody {
  @ApiProperty({ example: 'c0ffee' }) @IsString() @gtid() gtid!: string;
  @ApiProperty({ description: 'The participant’s branch in the TCC workflow', example: 'imaging' })
  @IsString()
  @branch()
  branch!: string;
}

export class TccTryBody extends TccBranchBody {
  @ApiProperty({ example: RESOURCE_EXAMPLE }) @IsString() @resource() resource!: string;

  @ApiProperty({ minimum: 1, maximum: MAX_CLAIM_UNITS, example: 2 })
  @IsInt()
  @Min(1)
  @Max(MAX_CLAIM_UNITS)
  units!: number;
}

export class CapacityLevelView {
  @ApiProperty({ example: RESOURCE_EXAMPLE }) resource!: string;
  @ApiProperty({ description: 'Units offered in all' }) capacity!: number;
  @ApiProperty({ description: 'Applied: committed consumption' }) taken!: number;
  @ApiProperty({ description: 'Held by TCC Tries not yet confirmed or cancelled' }) held!: number;
  @ApiProperty({ description: 'Lent to the quota cache' }) lent!: number;
  @ApiProperty({ description: 'capacity − taken − held − lent, never below 0' }) available!: number;
}

export class CapacityClaimView {
  @ApiProperty() key!: string;
  @ApiProperty() gtid!: string;
  @ApiPropertyOptional({ nullable: true, description: 'null for a tombstone written before any apply' })
  resource!: string | null;
  @ApiProperty() units!: number;
  @ApiProperty({ enum: ['saga', 'quota-saga', 'tcc'] }) mode!: ClaimMode;
  @ApiProperty({ enum: ['applied', 'held', 'released'] }) state!: ClaimState;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class SagaAppliedView {
  @ApiProperty() key!: string;
  @ApiProperty() gtid!: string;
  @ApiProperty() resource!: string;
  @ApiProperty() units!: number;
  @ApiProperty({ enum: ['applied'] }) state!: 'applied';
}

export class SagaReleasedView {
  @ApiProperty() key!: string;
  @ApiProperty() gtid!: string;
  @ApiProperty({ enum: ['released'] }) state!: 'released';
  @ApiProperty({ description: 'Units given back (the same on a repeat); 0 for a tombstone' })
  returned!: number;
}

export class TccHeldView {
  @ApiProperty() gtid!: string;
  @ApiProperty() branch!: string;
  @ApiProperty({ description: '`<gtid>:<branch>`' }) key!: string;
  @ApiProperty() resource!: string;
  @ApiProperty() units!: number;
  @ApiProperty({ enum: ['held'] }) state!: 'held';
}

export class TccSettledView {
  @ApiProperty() gtid!: string;
  @ApiProperty() branch!: string;
  @ApiProperty() key!: string;
  @ApiProperty({ enum: ['applied', 'released'] }) state!: 'applied' | 'released';
  @ApiProperty({ description: 'Units moved; 0 for an empty rollback' }) units!: number;
}
