import { Inject, Injectable } from '@nestjs/common';
import {
  AUDIT_EXCHANGE,
  AUDIT_RECORD_TYPE,
  auditRoutingKey,
  Database,
  GroupCommit,
  type AuditRecord,
  type AuditSink,
  type Session,
} from '@hospital/platform';
import type { NewOutboxEvent } from '../ports/messaging.ports';
import { Outbox } from './messaging.module';

/**
 * The ordering key of every audit record of a service. The audit service orders nothing by it (its chain
 * is ordered by arrival), but one key keeps the outbox's aggregate table at one row for the audit trail.
 */
export const AUDIT_AGGREGATE = 'audit-trail';

/** The outbox event that carries one record; its message id is the record id (the audit inbox's key). */
export function auditEvent(record: AuditRecord): NewOutboxEvent {
  return {
    id: record.id,
    exchange: AUDIT_EXCHANGE,
    routingKey: auditRoutingKey(record.service),
    type: AUDIT_RECORD_TYPE,
    aggregateId: AUDIT_AGGREGATE,
    payload: record,
    ...(record.gtid === undefined ? {} : { gtid: record.gtid }),
  };
}

/**
 * The audit sink of a service: appends records to its own outbox (`tx_outbox`), from which the relay
 * publishes them to the audit service, so none is lost while the audit service or the broker is down.
 *
 * `record` resolves once the records are committed: the interceptor awaits it before the answer leaves.
 * Records submitted while a batch is being written are gathered into the next one (group commit), so a
 * busy read path pays one insert and one commit per batch, not per request. `recordIn` appends in a
 * transaction the caller already holds, for a writer that wants its audit record to commit with its write.
 */
@Injectable()
export class OutboxAuditSink implements AuditSink {
  private readonly batches: GroupCommit<readonly AuditRecord[], void>;

  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(Outbox) private readonly outbox: Outbox,
  ) {
    this.batches = new GroupCommit<readonly AuditRecord[], void>({
      maxItems: 128,
      maxGroups: 2,
      run: async (items) => {
        await this.db.transaction((session) => this.recordIn(session, items.flat()));
        this.outbox.notify();
        return items.map(() => ({ value: undefined }));
      },
    });
  }

  async record(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.batches.submit(records);
  }

  async recordIn(session: Session, records: readonly AuditRecord[]): Promise<void> {
    await this.outbox.append(session, records.map(auditEvent));
  }
}
