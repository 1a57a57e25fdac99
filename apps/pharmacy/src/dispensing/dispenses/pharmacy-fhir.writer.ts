import { Inject, Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import {
  FhirException,
  type FhirWriter,
  type ParsedTransaction,
  type Stored,
  type TransactionResult,
} from '@hospital/fhir';
import { DispenseService, type PharmacyWrite } from './dispense.service';

/** The resources `PharmacyWrite` carries, narrowed from any resource the FHIR module validated. */
function pharmacyWrite(resource: Resource, id?: string, path?: string): PharmacyWrite {
  if (resource.resourceType !== 'MedicationDispense' && resource.resourceType !== 'MedicationRequest') {
    throw FhirException.methodNotAllowed('create', resource.resourceType);
  }
  return { resource, id, path };
}

/**
 * The dispensing part's FHIR write path (thin): prescriptions and dispenses are created through
 * DispenseService; its DispensingExceptions reach the service's exception filter as they are. The formulary is read-only over FHIR
 * (it is seeded).
 */
@Injectable()
export class PharmacyFhirWriter implements FhirWriter {
  constructor(@Inject(DispenseService) private readonly dispenses: DispenseService) {}

  async create(resource: Resource): Promise<Stored<Resource>> {
    const [stored] = await this.dispenses.record([pharmacyWrite(resource)]);
    return stored;
  }

  /** Several prescriptions and dispenses in one local transaction: all recorded, or none. */
  async transaction(transaction: ParsedTransaction): Promise<TransactionResult[]> {
    const writes = transaction.entries.map((entry, i) =>
      pharmacyWrite(entry.resource, entry.id, `Bundle.entry[${i}].resource`),
    );
    const stored = await this.dispenses.record(writes);
    return stored.map((resource) => ({ resource, created: true }));
  }
}
