import { Inject, Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { FhirException, type FhirWriter, type Stored } from '@hospital/fhir';
import { VitalsService } from './vitals.service';

/**
 * The ICU monitor's FHIR write path (thin): a vital-sign Observation is created through VitalsService, which
 * refuses it with a VitalException or stores and scores it. Batch Bundles reach it entry by entry (the
 * FHIR module runs each as its own create). RiskAssessments and Flags are the monitor's own output:
 * read-only over FHIR.
 */
@Injectable()
export class IcuFhirWriter implements FhirWriter {
  constructor(@Inject(VitalsService) private readonly vitals: VitalsService) {}

  async create(resource: Resource): Promise<Stored<Resource>> {
    if (resource.resourceType !== 'Observation')
      throw FhirException.methodNotAllowed('create', resource.resourceType);
    return this.vitals.record(resource);
  }
}
