import { ApiProperty } from '@nestjs/swagger';
import type { Spo2Scale } from '../../news2/news2';

/** A bed place and its admission (the admission fields are null while it is empty). */
export class BedView {
  @ApiProperty({ example: 'ICU-01' }) bedId!: string;
  @ApiProperty({ type: String, nullable: true, example: 'pat-0001' }) patientId!: string | null;
  @ApiProperty({ enum: [1, 2], nullable: true }) spo2Scale!: Spo2Scale | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) admittedAt!: string | null;
}
