import { Inject, Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { FhirException, FhirResourceStore, type FhirWriter, type Stored } from '@hospital/fhir';
import { Database } from '@hospital/platform';
import { ConsultRequestRules } from './consults/consult-request.rules';

/**
 * Telemedicine's FHIR write path (thin): consult requests and virtual sessions are local records, checked
 * by ConsultRequestRules and written in one local transaction. Findings are written only by a consult
 * completion; experts and referring sites come from the seeded directory.
 */
@Injectable()
export class TelemedicineFhirWriter implements FhirWriter {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(ConsultRequestRules) private readonly rules: ConsultRequestRules,
  ) {}

  async create(resource: Resource): Promise<Stored<Resource>> {
    switch (resource.resourceType) {
      case 'ServiceRequest':
        return this.db.transaction(async (tx) => {
          await this.rules.checkRequest(tx, resource);
          return this.store.create(tx, resource);
        });
      case 'Encounter':
        return this.db.transaction(async (tx) => {
          await this.rules.checkSession(tx, resource);
          return this.store.create(tx, resource);
        });
      default:
        throw FhirException.methodNotAllowed('create', resource.resourceType);
    }
  }
}
