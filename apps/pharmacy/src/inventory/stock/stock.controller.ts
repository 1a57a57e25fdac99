import { RequireScopes } from '@hospital/platform';
import { Controller, Get, Inject, Param, Query, ValidationPipe } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { StockLineView, StockListView } from './dto/stock-line.view';
import { MEDICATION_CODE, StockListQuery, StockLocationQuery } from './dto/stock-query.dto';
import { InventoryErrorCode, InventoryException } from './stock.exception';
import { StockService } from './stock.service';

const NOT_FHIR =
  'FHIR R4 has no inventory resource (InventoryReport and InventoryItem arrive in R5), so stock is served ' +
  'as plain JSON here; errors are RFC 9457 problem documents (application/problem+json).';

const query = new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true });

/** Stock per drug and location, read-only: it changes only through dispense and delivery messages. */
@ApiTags('inventory')
@RequireScopes('user/Medication.rs')
@Controller('api/inventory')
export class StockController {
  constructor(@Inject(StockService) private readonly stock: StockService) {}

  @Get()
  @ApiOperation({ summary: 'Stock lines, by drug and location', description: NOT_FHIR })
  @ApiOkResponse({ type: StockListView })
  async list(@Query(query) filter: StockListQuery): Promise<StockListView> {
    const limit = filter.limit ?? 100;
    const offset = filter.offset ?? 0;
    const items = await this.stock.list({
      medicationCode: filter.medication,
      locationId: filter.location,
      limit,
      offset,
    });
    return { items, limit, offset };
  }

  @Get(':medicationCode')
  @ApiOperation({
    summary: "One drug's stock at each location (or the one asked for)",
    description: NOT_FHIR,
  })
  @ApiParam({ name: 'medicationCode', description: 'RxNorm code', example: '197361' })
  @ApiOkResponse({ type: [StockLineView] })
  async ofMedication(
    @Param('medicationCode') medicationCode: string,
    @Query(query) filter: StockLocationQuery,
  ): Promise<StockLineView[]> {
    if (!MEDICATION_CODE.test(medicationCode)) {
      throw new InventoryException(
        InventoryErrorCode.InvalidQuery,
        'medicationCode must be a formulary code',
        ['medicationCode'],
      );
    }
    return this.stock.ofMedication(medicationCode, filter.location);
  }
}
