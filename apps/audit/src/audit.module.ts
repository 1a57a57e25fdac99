import { DynamicModule, Module } from '@nestjs/common';
import { AUDIT_EXCHANGE, AUDIT_RECORD_TYPE, PlatformModule } from '@hospital/platform';
import { AuditTrailModule } from '@hospital/transactions';
import type { AuditConfig } from './config';
import { AuditAdminController } from './export/audit-admin.controller';
import { AuditFhirController } from './fhir/audit-fhir.controller';
import { AUDIT_RECORDS_QUEUE, AuditEventRepository } from './trail/audit-event.repository';
import { AuditRecordHandler } from './trail/audit-record.handler';

/**
 * The audit service: consumes every service's audit records (`hospital.audit`, inbox de-duplication by
 * record id), stores them append-only in a hash chain, and serves them as FHIR `AuditEvent` search, a
 * chain verification and a CSV export.
 */
@Module({})
export class AuditModule {
  static forRoot(config: AuditConfig): DynamicModule {
    return {
      module: AuditModule,
      imports: [
        PlatformModule.forRoot(config),
        // Its own readers are audited too (an auditor's search names the patients it showed), through its own
        // outbox, like every service's.
        AuditTrailModule.forRoot({
          messaging: {
            consumers: [
              {
                queue: AUDIT_RECORDS_QUEUE,
                bindings: [{ exchange: AUDIT_EXCHANGE, routingKey: `${AUDIT_RECORD_TYPE}.#` }],
                handler: AuditRecordHandler,
              },
            ],
            providers: [AuditEventRepository, AuditRecordHandler],
          },
        }),
      ],
      controllers: [AuditFhirController, AuditAdminController],
      providers: [AuditEventRepository],
    };
  }
}
