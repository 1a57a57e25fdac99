import { Module } from '@nestjs/common';
import { TransactionBrowsersModule } from '@hospital/transactions';
import { CapacityClient } from './capacity.client';
import { PlanChecks } from './plan-checks';
import { PlanEngines } from './plan-engines';
import { PlanLedger } from './plan-ledger';
import { PlanRepository } from './plan.repository';
import { PlanService } from './plan.service';

/**
 * Treatment plans: the checks before a plan starts, the participants' capacity client, the plan's own
 * record, and the saga orchestrator and TCC coordinator that book plans (with their recovery sweeps).
 * The outbox the activation appends to comes from the root module's MessagingModule (global). The three
 * engines' logs are listed at `/api/transactions` (styles `saga`, `tcc`, `quota-saga`).
 */
@Module({
  imports: [TransactionBrowsersModule.forFeature(['saga', 'tcc', 'quota-saga'])],
  providers: [PlanRepository, PlanLedger, CapacityClient, PlanChecks, PlanEngines, PlanService],
  exports: [PlanService, PlanEngines],
})
export class PlansModule {}
