import { Module } from '@nestjs/common';
import { StockController } from './stock.controller';
import { StockRepository } from './stock.repository';
import { StockService } from './stock.service';

/** Stock per drug and location: the API, and the service the message handlers apply movements with. */
@Module({
  controllers: [StockController],
  providers: [StockRepository, StockService],
  exports: [StockService],
})
export class StockModule {}
