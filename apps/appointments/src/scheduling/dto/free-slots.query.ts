import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches } from 'class-validator';

/** `GET /api/slots/free`: a practitioner's free slots on one day, of one service type if given. */
export class FreeSlotsQuery {
  @ApiProperty({
    description: 'FHIR id of the Practitioner (the actor of their schedules)',
    example: 'prac-1',
  })
  @IsString()
  @Matches(/^[A-Za-z0-9\-.]{1,64}$/, { message: 'practitioner must be a FHIR id' })
  practitioner!: string;

  @ApiPropertyOptional({ description: 'Service type code of the slots', example: '57' })
  @IsOptional()
  @IsString()
  @Matches(/^\S{1,100}$/, { message: 'service must be a code (no spaces, up to 100 characters)' })
  service?: string;

  @ApiProperty({ description: 'The day (UTC) the slots start on', example: '2026-12-07' })
  @IsString()
  @Matches(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, { message: 'date must be YYYY-MM-DD' })
  date!: string;
}
