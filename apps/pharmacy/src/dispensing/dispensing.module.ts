import { DynamicModule, Module } from '@nestjs/common';
import { FhirModule } from '@hospital/fhir';
import { PlatformModule } from '@hospital/platform';
import { AuditTrailModule, MessagingModule } from '@hospital/transactions';
import type { PharmacyConfig } from '../config';
import { DispensesModule } from './dispenses/dispenses.module';
import { PharmacyFhirWriter } from './dispenses/pharmacy-fhir.writer';
import { PHARMACY_RESOURCES } from './fhir-resources';

/**
 * The pharmacy's dispensing part: the formulary (Medication), prescriptions (MedicationRequest) and
 * dispenses (MedicationDispense) over FHIR R4. Each dispense leaves a `MedicationDispensed` event in the
 * outbox, in the same local transaction; the relay publishes it to RabbitMQ for the inventory.
 */
@Module({})
export class DispensingModule {
  static forRoot(config: PharmacyConfig): DynamicModule {
    return {
      module: DispensingModule,
      imports: [
        PlatformModule.forRoot(config),
        MessagingModule.forRoot({ outbox: true }),
        FhirModule.forRoot({
          serviceName: config.service.name,
          resources: PHARMACY_RESOURCES,
          writes: { MedicationRequest: ['create'], MedicationDispense: ['create'] },
          transaction: true,
          writer: PharmacyFhirWriter,
          imports: [DispensesModule],
        }),
        AuditTrailModule.forRoot({ messaging: false }),
      ],
    };
  }
}
