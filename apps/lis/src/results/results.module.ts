import { Module } from '@nestjs/common';
import { MllpResultListener } from './mllp-result.listener';
import { ResultIntakeService } from './result-intake.service';

/** Analyzer results in: the MLLP listener for ORU^R01 and the transaction that applies each one once. */
@Module({
  providers: [ResultIntakeService, MllpResultListener],
  exports: [MllpResultListener],
})
export class ResultsModule {}
