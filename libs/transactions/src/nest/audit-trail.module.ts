import { DynamicModule, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { AUDIT_SINK } from '@hospital/platform';
import { AuditTrailInterceptor } from './audit-trail.interceptor';
import { OutboxAuditSink } from './audit-trail.sink';
import { MessagingModule, type MessagingOptions } from './messaging.module';

export interface AuditTrailOptions {
  /**
   * The service's messaging. Absent: the module brings an outbox and its relay
   * (`MessagingModule.forRoot({ outbox: true })`). Options: the same, with the service's own consumers.
   * `false`: the root module imports `MessagingModule.forRoot({ outbox: true, … })` itself.
   */
  messaging?: MessagingOptions | false;
}

/**
 * The audit trail of a service, in one import of its root module: `AUDIT_SINK` (the outbox-backed
 * `OutboxAuditSink`) and a global interceptor that records every access to patient data through it.
 * The records reach the audit service through the outbox relay and RabbitMQ (`hospital.audit`).
 */
@Module({})
export class AuditTrailModule {
  static forRoot(options: AuditTrailOptions = {}): DynamicModule {
    return {
      module: AuditTrailModule,
      global: true,
      imports:
        options.messaging === false
          ? []
          : [MessagingModule.forRoot({ ...(options.messaging ?? {}), outbox: true })],
      providers: [
        OutboxAuditSink,
        { provide: AUDIT_SINK, useExisting: OutboxAuditSink },
        { provide: APP_INTERCEPTOR, useClass: AuditTrailInterceptor },
      ],
      exports: [AUDIT_SINK, OutboxAuditSink],
    };
  }
}
