import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { ServiceRequest } from '@medplum/fhirtypes';
import {
  FhirErrorCode,
  FhirException,
  FhirResourceStore,
  ORDER_RESULT_TYPE,
  ORDER_RESULTS_EXCHANGE,
  orderResultAggregate,
  OrderResultPayload,
  patientIdOf,
} from '@hospital/fhir';
import { AuditRecord, Database, PgErrorCode, pgErrorCode, Session } from '@hospital/platform';
import { NewOutboxEvent, Outbox, OutboxAuditSink, PostgresInbox } from '@hospital/transactions';
import { isLabOrder } from '../orders/lab-order.branch';
import { LabResult } from './lab-result';
import { completesOrder, labResultResources, LabResultResources } from './lab-result.fhir';

/** The inbox consumer name of results taken over MLLP. */
export const HL7_RESULTS_CONSUMER = 'hl7-results';

/** The inbox key of a result message: who sent it, and its MSH-10 (a control id is unique per sender). */
export function resultMessageId(
  result: Pick<LabResult, 'sendingApplication' | 'sendingFacility' | 'controlId'>,
): string {
  return `${result.sendingApplication}|${result.sendingFacility}|${result.controlId}`;
}

/** What became of a result: applied now, applied before (a duplicate), or for an order the LIS does not hold. */
export type IntakeOutcome = 'applied' | 'duplicate' | 'unknown-order';

/** The order-results event of one result (contract `order-results.contract.ts`). */
export function orderResultEvent(
  order: ServiceRequest & { id: string },
  patientId: string,
  result: LabResult,
  resources: LabResultResources,
): NewOutboxEvent {
  const payload: OrderResultPayload = {
    department: 'lis',
    serviceRequestId: order.id,
    patientId,
    orderStatus: completesOrder(result) ? 'completed' : 'active',
    resources: [...resources.observations, resources.report],
  };
  return {
    exchange: ORDER_RESULTS_EXCHANGE,
    routingKey: 'lis',
    type: ORDER_RESULT_TYPE,
    aggregateId: orderResultAggregate(order.id),
    payload,
  };
}

/**
 * Applies an analyzer's result in one local transaction: the inbox row (its primary key decides between
 * two deliveries of the same MSH-10), the Observations and the DiagnosticReport, the order moved to
 * completed on a final result, one order-result event for the EMR and one audit record. Resolves after the
 * commit, so the ACK that follows never announces something lost.
 */
@Injectable()
export class ResultIntakeService {
  private readonly inbox = new PostgresInbox();

  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(Outbox) private readonly outbox: Outbox,
    @Inject(OutboxAuditSink) private readonly audit: OutboxAuditSink,
  ) {}

  async apply(result: LabResult): Promise<IntakeOutcome> {
    const messageId = resultMessageId(result);
    let outcome: IntakeOutcome;
    try {
      outcome = await this.db.transaction((session) => this.applyIn(session, result, messageId));
    } catch (error) {
      if (error instanceof UnknownOrderError) return 'unknown-order';
      // Another connection applied the same message meanwhile: its inbox row won, this one rolled back.
      if (pgErrorCode(error) === PgErrorCode.UniqueViolation && (await this.appliedBefore(messageId))) {
        return 'duplicate';
      }
      throw error;
    }
    if (outcome === 'applied') this.outbox.notify();
    return outcome;
  }

  private async appliedBefore(messageId: string): Promise<boolean> {
    const seen = await this.db.withSession((session) =>
      this.inbox.seen(session, HL7_RESULTS_CONSUMER, [messageId]),
    );
    return seen.has(messageId);
  }

  private async applyIn(session: Session, result: LabResult, messageId: string): Promise<IntakeOutcome> {
    const seen = await this.inbox.seen(session, HL7_RESULTS_CONSUMER, [messageId]);
    if (seen.has(messageId)) return 'duplicate';
    // First, so a second delivery of the same message waits here for this one and then fails on the key.
    await this.inbox.record(
      session,
      HL7_RESULTS_CONSUMER,
      [{ messageId, outcome: 'applied', replacing: false }],
      new Map(),
    );
    const order = await this.orderOf(session, result.placerOrderNumber);
    const patientId = order ? patientIdOf(order.subject) : undefined;
    if (!order || patientId === undefined) {
      // Nothing may stay of this message: the caller rolls the inbox row back with it.
      throw new UnknownOrderError();
    }
    const resources = labResultResources(result, { id: order.id, patientId });
    const updatedOrder: ServiceRequest = completesOrder(result) ? { ...order, status: 'completed' } : order;
    await this.store.upsertCopies(session, [...resources.observations, resources.report, updatedOrder]);
    await this.outbox.append(session, [orderResultEvent(order, patientId, result, resources)]);
    await this.audit.recordIn(session, [this.auditRecord(result, resources, patientId)]);
    return 'applied';
  }

  private async orderOf(
    session: Session,
    id: string,
  ): Promise<(ServiceRequest & { id: string }) | undefined> {
    try {
      const order = await this.store.read<ServiceRequest>(session, 'ServiceRequest', id);
      return isLabOrder(order) ? { ...order, id } : undefined;
    } catch (error) {
      const code = error instanceof FhirException ? error.code : undefined;
      if (code === FhirErrorCode.NotFound || code === FhirErrorCode.Gone) return undefined;
      throw error;
    }
  }

  private auditRecord(result: LabResult, resources: LabResultResources, patientId: string): AuditRecord {
    return {
      id: randomUUID(),
      recorded: new Date().toISOString(),
      service: 'lis',
      actor: { kind: 'service', id: result.sendingApplication, name: result.sendingApplication },
      action: 'C',
      interaction: 'hl7-oru-r01',
      resourceType: 'DiagnosticReport',
      resourceId: resources.report.id,
      patient: patientId,
      outcome: '0',
      status: 200,
    };
  }
}

/** OBR-2 names no laboratory order the LIS holds (answered AE 204). */
export class UnknownOrderError extends Error {
  constructor() {
    super('unknown placer order number');
  }
}
