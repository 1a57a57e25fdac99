import { ApiProperty } from '@nestjs/swagger';
import { IsIn, IsInt, IsISO8601, IsString, Matches, Max, Min } from 'class-validator';
import {
  NEWS2_ALERT_LEVELS,
  NEWS2_FLAG_LEVELS,
  type News2AlertLevel,
  type News2AlertPayload,
  type News2FlagLevel,
} from '@hospital/fhir';

/** A FHIR id (Flag, Patient, RiskAssessment). */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const BED_ID = /^[A-Za-z0-9-]{1,64}$/;
/** An idempotency key: printable, no spaces, up to 200 characters. */
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$/;

/** `POST /internal/alerts`: an alert transition as the monitor notifies it (ids, bed, level, score). */
export class AlertNotificationDto implements News2AlertPayload {
  @ApiProperty({ description: 'The Flag recording the alert' })
  @IsString()
  @Matches(FHIR_ID, { message: 'alertId must be a FHIR id' })
  alertId!: string;

  @ApiProperty({ enum: NEWS2_ALERT_LEVELS })
  @IsIn(NEWS2_ALERT_LEVELS)
  level!: News2AlertLevel;

  @ApiProperty({ enum: NEWS2_FLAG_LEVELS, description: 'The Flag’s level (which alert a resolution ends)' })
  @IsIn(NEWS2_FLAG_LEVELS)
  flagLevel!: News2FlagLevel;

  @ApiProperty({ example: 'ICU-03' })
  @IsString()
  @Matches(BED_ID, { message: 'bedId must be letters, digits and dashes' })
  bedId!: string;

  @ApiProperty({ description: 'FHIR id of the Patient (no demographics travel)' })
  @IsString()
  @Matches(FHIR_ID, { message: 'patientId must be a FHIR id' })
  patientId!: string;

  @ApiProperty({ description: 'The RiskAssessment the transition follows' })
  @IsString()
  @Matches(FHIR_ID, { message: 'assessmentId must be a FHIR id' })
  assessmentId!: string;

  @ApiProperty({ minimum: 0, maximum: 20 })
  @IsInt()
  @Min(0)
  @Max(20)
  news2Total!: number;

  @ApiProperty({ description: 'When the alert opened or closed (ISO 8601)' })
  @IsISO8601({ strict: true })
  effectiveAt!: string;
}
