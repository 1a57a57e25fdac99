import { ApiProperty } from '@nestjs/swagger';

/** A free slot, as `/api/slots/free` lists it: what an Appointment names to book it. */
export class FreeSlotView {
  @ApiProperty({ description: 'What Appointment.slot names', example: 'Slot/0b6f…' }) reference!: string;
  @ApiProperty() slotId!: string;
  @ApiProperty({ example: 'Schedule/5c1e…' }) schedule!: string;
  @ApiProperty({ example: 'Practitioner/prac-1' }) practitioner!: string;
  @ApiProperty({ description: 'Service type code', example: '57' }) serviceType!: string;
  @ApiProperty({ example: '2026-12-07T09:00:00.000Z' }) start!: string;
  @ApiProperty({ example: '2026-12-07T09:15:00.000Z' }) end!: string;
}
