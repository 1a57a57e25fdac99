import { Module } from '@nestjs/common';
import { TwoPhaseCommitModule } from '@hospital/transactions';
import { RecordRequestPlanner } from './record-request.planner';
import { RecordUpdateService } from './record-update.service';

/** The record update: planning a clinician's change and committing it in the EMR, LIS and PACS (2PC). */
@Module({
  imports: [TwoPhaseCommitModule.forFeature({ participants: ['lis', 'pacs'] })],
  providers: [RecordRequestPlanner, RecordUpdateService],
  exports: [RecordRequestPlanner, RecordUpdateService],
})
export class RecordsModule {}
