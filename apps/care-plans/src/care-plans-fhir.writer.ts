import { Inject, Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { FhirException, type FhirWriteContext, type FhirWriter, type Stored } from '@hospital/fhir';
import { CareTeamService } from './care-teams/care-team.service';
import { PlanService } from './plans/plan.service';

/**
 * The care-plans service's FHIR write path (thin): CareTeams are created through CareTeamService (its
 * people checked against the EMR), CarePlans through PlanService (booked in the request's transaction
 * mode). The FHIR module has validated each body against R4 and opened only these interactions.
 */
@Injectable()
export class CarePlansFhirWriter implements FhirWriter {
  constructor(
    @Inject(CareTeamService) private readonly teams: CareTeamService,
    @Inject(PlanService) private readonly plans: PlanService,
  ) {}

  async create(resource: Resource, context: FhirWriteContext): Promise<Stored<Resource>> {
    switch (resource.resourceType) {
      case 'CareTeam':
        return this.teams.create(resource);
      case 'CarePlan':
        return this.plans.create(resource, context);
      default:
        throw FhirException.methodNotAllowed('create', resource.resourceType);
    }
  }
}
