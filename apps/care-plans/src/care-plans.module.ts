import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import { AuditTrailModule, MessagingModule } from '@hospital/transactions';
import { CarePlansFhirWriter } from './care-plans-fhir.writer';
import { CareTeamsModule } from './care-teams/care-teams.module';
import type { CarePlansConfig } from './config';
import { CARE_PLAN_RESOURCES } from './fhir-resources';
import { PlanEntity } from './plans/plan.entity';
import { PlansModule } from './plans/plans.module';

/**
 * care-plans: multidisciplinary treatment plans. CareTeams (a patient and practitioners the EMR knows)
 * and CarePlans at /fhir; creating a CarePlan books its consults in appointments, its imaging in the PACS
 * and its regimen's stock in the pharmacy's inventory — all or nothing — by saga, quota-cached saga or TCC,
 * chosen per request. The quota-cached saga's completion events leave through the outbox.
 */
@Module({})
export class CarePlansModule {
  static forRoot(config: CarePlansConfig): DynamicModule {
    return {
      module: CarePlansModule,
      imports: [
        PlatformModule.forRoot(config, { entities: [PlanEntity] }),
        MessagingModule.forRoot({ outbox: true }),
        FhirModule.forRoot({
          serviceName: config.service.name,
          resources: CARE_PLAN_RESOURCES,
          writes: { CareTeam: ['create'], CarePlan: ['create'] },
          writer: CarePlansFhirWriter,
          imports: [CareTeamsModule, PlansModule],
        }),
        AuditTrailModule.forRoot({ messaging: false }),
      ],
    };
  }
}
