import { ApiProperty } from '@nestjs/swagger';
import { IsIn, IsInt, IsString, Matches } from 'class-validator';
import type { Spo2Scale } from '../../news2/news2';

/** A FHIR id: what `Observation.subject` must then name as `Patient/<id>`. */
export const PATIENT_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** `PUT /api/beds/:bedId/admission`: who is in the bed, and the SpO2 scale NEWS2 scores them on. */
export class AdmissionDto {
  @ApiProperty({
    description: 'FHIR id of the Patient (vitals name them as Patient/<id>)',
    example: 'pat-0001',
  })
  @IsString()
  @Matches(PATIENT_ID, { message: 'patientId must be a FHIR id (letters, digits, - and ., up to 64)' })
  patientId!: string;

  @ApiProperty({
    enum: [1, 2],
    description:
      'NEWS2 SpO2 scale: 1 for most patients, 2 for hypercapnic respiratory failure (target 88–92%)',
  })
  @IsInt()
  @IsIn([1, 2], { message: 'spo2Scale must be 1 or 2' })
  spo2Scale!: Spo2Scale;
}
