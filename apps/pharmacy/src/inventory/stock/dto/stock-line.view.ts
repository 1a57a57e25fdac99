import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class OpenReorderView {
  @ApiProperty() reorderId!: string;
  @ApiProperty({ description: 'Units ordered' }) quantity!: number;
  @ApiProperty({ format: 'date-time' }) openedAt!: string;
}

/** One drug at one location. */
export class StockLineView {
  @ApiProperty({ description: 'RxNorm code', example: '197361' }) medicationCode!: string;
  @ApiProperty({ example: 'main-pharmacy' }) locationId!: string;
  @ApiProperty({ description: 'Units on hand; negative when more was dispensed than was booked in' })
  onHand!: number;
  @ApiProperty({ description: 'A reorder opens when on-hand falls to or below this' }) reorderPoint!: number;
  @ApiProperty({ description: 'Usual units per reorder' }) reorderQuantity!: number;
  @ApiPropertyOptional({ type: OpenReorderView, nullable: true }) openReorder!: OpenReorderView | null;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class StockListView {
  @ApiProperty({ type: [StockLineView] }) items!: StockLineView[];
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}
