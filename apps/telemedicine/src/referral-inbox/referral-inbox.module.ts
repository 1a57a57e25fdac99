import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import { AuditTrailModule, THREE_PHASE_BRANCH_WORK, ThreePhaseCommitModule } from '@hospital/transactions';
import type { ReferralInboxConfig } from './config';
import { REFERRAL_INBOX_RESOURCES } from './fhir-resources';
import { recommendationBranchProvider } from './recommendation.branch';

/**
 * The referring site's recommendation inbox: read and search of the `Communication`s consult completions
 * deliver (by their branch step, `recommendationBranchProvider`); nothing is written over FHIR.
 */
@Module({})
export class ReferralInboxModule {
  static forRoot(config: ReferralInboxConfig): DynamicModule {
    return {
      module: ReferralInboxModule,
      imports: [
        PlatformModule.forRoot(config),
        FhirModule.forRoot({
          serviceName: config.service.name,
          resources: REFERRAL_INBOX_RESOURCES,
          imports: [
            ThreePhaseCommitModule.forFeature({ participant: true }, [
              { provide: THREE_PHASE_BRANCH_WORK, ...recommendationBranchProvider },
            ]),
          ],
        }),
        AuditTrailModule.forRoot(),
      ],
    };
  }
}
