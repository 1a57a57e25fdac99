import { Module } from '@nestjs/common';
import { MessageTransactionModule } from '@hospital/transactions';
import { PurchasingRepository } from './purchasing.repository';
import { PurchasingService } from './purchasing.service';
import { SupplyChainFhirWriter } from './supply-chain.fhir-writer';

/** Placing purchase orders as two-phase messages through the pharmacy's message server. */
@Module({
  imports: [MessageTransactionModule.forFeature({ server: 'pharmacy-messages' })],
  providers: [PurchasingRepository, PurchasingService, SupplyChainFhirWriter],
  exports: [PurchasingRepository, PurchasingService, SupplyChainFhirWriter],
})
export class PurchasingModule {}
