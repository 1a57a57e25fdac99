import { Module } from '@nestjs/common';
import { recordSyncBranchProvider } from '@hospital/fhir';
import { BRANCH_WORK, TwoPhaseCommitModule } from '@hospital/transactions';

/** Takes part in the EMR's record update: each 2PC branch keeps the patient's demographics and the orders. */
@Module({
  imports: [
    TwoPhaseCommitModule.forFeature({ participant: true }, [
      { provide: BRANCH_WORK, ...recordSyncBranchProvider },
    ]),
  ],
})
export class OrdersModule {}
