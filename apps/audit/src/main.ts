import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { auditConfig } from './config';
import { AuditModule } from './audit.module';

runService(
  'audit',
  () => auditConfig(),
  (config) => AuditModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    description:
      'Audit trail: every service’s audit records (hospital.audit), stored append-only in a hash chain; FHIR AuditEvent search at /fhir/AuditEvent, chain verification at /api/audit/verify, CSV export at /api/audit/export.',
  },
);
