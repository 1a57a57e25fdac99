import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import { AuditTrailModule } from '@hospital/transactions';
import type { TelemedicineConfig } from './config';
import { THREE_PHASE_CONSULT_COMMIT } from './consults/consult-commit.three-phase';
import { type ConsultCommitBinding, ConsultsModule } from './consults/consults.module';
import { TELEMEDICINE_RESOURCES } from './fhir-resources';
import { TelemedicineFhirWriter } from './telemedicine-fhir.writer';

/** How the telemedicine service is put together beyond its configuration. */
export interface TelemedicineOptions {
  /** How the consult completion commits (`CONSULT_COMMIT`): three-phase commit unless a spec says otherwise. */
  consultCommit?: ConsultCommitBinding;
}

/**
 * Telemedicine: remote consults. Consult requests (`ServiceRequest`) and virtual sessions (`Encounter`,
 * class VR) at /fhir; `POST /fhir/ServiceRequest/:id/$complete` commits an expert's findings to the EMR,
 * the consult record and the referring site's recommendation inbox, all or nothing.
 */
@Module({})
export class TelemedicineModule {
  static forRoot(config: TelemedicineConfig, options: TelemedicineOptions = {}): DynamicModule {
    return {
      module: TelemedicineModule,
      imports: [
        PlatformModule.forRoot(config),
        FhirModule.forRoot({
          serviceName: config.service.name,
          resources: TELEMEDICINE_RESOURCES,
          writes: { ServiceRequest: ['create'], Encounter: ['create'] },
          writer: TelemedicineFhirWriter,
          imports: [
            ConsultsModule.forRoot(options.consultCommit ?? THREE_PHASE_CONSULT_COMMIT, {
              measurementModes: config.env.CONSULT_MEASUREMENT_MODES === 'true',
            }),
          ],
        }),
        AuditTrailModule.forRoot(),
      ],
    };
  }
}
