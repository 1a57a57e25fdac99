import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { NEWS2_ALERT_LEVELS, type News2AlertLevel } from '@hospital/fhir';

/** `GET /api/alerts`: newest first, optionally of one bed or level, a page at a time. */
export class AlertsQuery {
  @ApiPropertyOptional({ example: 'ICU-03' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9-]{1,64}$/, { message: 'bedId must be letters, digits and dashes' })
  bedId?: string;

  @ApiPropertyOptional({ enum: NEWS2_ALERT_LEVELS })
  @IsOptional()
  @IsIn(NEWS2_ALERT_LEVELS)
  level?: News2AlertLevel;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  offset?: number;
}
