import { Module } from '@nestjs/common';
import { FormularyService } from '../formulary/formulary.service';
import { DispenseService } from './dispense.service';

/** Dispensing: the formulary look-up and the dispense write path (the FHIR writer uses both). */
@Module({
  providers: [FormularyService, DispenseService],
  exports: [FormularyService, DispenseService],
})
export class DispensesModule {}
