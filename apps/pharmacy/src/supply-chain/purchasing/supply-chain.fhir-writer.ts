import { Inject, Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { FhirException, FhirWriter, Stored } from '@hospital/fhir';
import { PurchasingService } from './purchasing.service';

/**
 * The supply chain's FHIR write path: `POST /fhir/SupplyRequest` places a manual purchase order through
 * the same two-phase message as a StockLow reorder. SupplyDelivery records come only from the supplier's
 * deliveries; nothing else is written over FHIR. Its SupplyChainExceptions reach the service's exception
 * filter as they are.
 */
@Injectable()
export class SupplyChainFhirWriter implements FhirWriter {
  constructor(@Inject(PurchasingService) private readonly purchasing: PurchasingService) {}

  async create(resource: Resource): Promise<Stored<Resource>> {
    if (resource.resourceType !== 'SupplyRequest')
      throw FhirException.methodNotAllowed('create', resource.resourceType);
    return this.purchasing.placeManual(resource);
  }
}
