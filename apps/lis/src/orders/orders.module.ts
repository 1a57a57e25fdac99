import { Module } from '@nestjs/common';
import { BRANCH_WORK, TwoPhaseCommitModule } from '@hospital/transactions';
import { labOrderBranchProvider } from './lab-order.branch';

/**
 * Takes part in the EMR's record update: each 2PC branch keeps the patient's demographics and the orders,
 * and queues each new laboratory order for the analyzer in the same branch transaction.
 */
@Module({
  imports: [
    TwoPhaseCommitModule.forFeature({ participant: true }, [
      { provide: BRANCH_WORK, ...labOrderBranchProvider },
    ]),
  ],
})
export class OrdersModule {}
