import { Module } from '@nestjs/common';
import { FhirResourceStore, FhirValidator } from '@hospital/fhir';
import { BRANCH_WORK, Outbox, TwoPhaseCommitModule } from '@hospital/transactions';
import { imagingOrdersBranch } from './imaging-orders.branch';

/**
 * Takes part in the EMR's record update: each 2PC branch keeps the patient's demographics and the orders,
 * and asks for a worklist entry for each new imaging order (see `imagingOrdersBranch`).
 */
@Module({
  imports: [
    TwoPhaseCommitModule.forFeature({ participant: true }, [
      {
        provide: BRANCH_WORK,
        inject: [FhirResourceStore, FhirValidator, Outbox],
        useFactory: imagingOrdersBranch,
      },
    ]),
  ],
})
export class OrdersModule {}
