import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value;

/** Stock location ids and formulary codes, as the event contracts accept them. */
export const LOCATION_ID = /^[a-z0-9-]{1,64}$/;
export const MEDICATION_CODE = /^[A-Za-z0-9.-]{1,64}$/;

/** `GET /api/inventory/:medicationCode` filter. */
export class StockLocationQuery {
  @ApiPropertyOptional({ description: 'Stock location id, e.g. main-pharmacy', example: 'main-pharmacy' })
  @IsOptional()
  @IsString()
  @Matches(LOCATION_ID, { message: 'location must be lower-case letters, digits and dashes' })
  location?: string;
}

/** `GET /api/inventory` filter and page. */
export class StockListQuery extends StockLocationQuery {
  @ApiPropertyOptional({ description: 'RxNorm code of the drug', example: '197361' })
  @IsOptional()
  @IsString()
  @Matches(MEDICATION_CODE, { message: 'medication must be a formulary code' })
  medication?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  offset?: number;
}
