import { Module } from '@nestjs/common';
import { BedsController } from './beds.controller';
import { BedsRepository } from './beds.repository';
import { BedsService } from './beds.service';

/** The unit's beds and admissions: the API, and the bed lock the vitals take. */
@Module({
  controllers: [BedsController],
  providers: [BedsRepository, BedsService],
  exports: [BedsService],
})
export class BedsModule {}
