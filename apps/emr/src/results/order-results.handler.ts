import { Inject, Injectable } from '@nestjs/common';
import type { ServiceRequest } from '@medplum/fhirtypes';
import {
  FhirErrorCode,
  FhirException,
  FhirResourceStore,
  FhirValidator,
  ORDER_RESULTS_EXCHANGE,
  parseOrderResultPayload,
  patientIdOf,
  type OrderResultPayload,
} from '@hospital/fhir';
import type { Session } from '@hospital/platform';
import {
  InboundMessage,
  MessageHandler,
  RejectedMessageError,
  type ConsumerDefinition,
} from '@hospital/transactions';
import { DEPARTMENTS } from '../records/order-routing';

/** The queue the EMR takes the departments' results from. */
export const ORDER_RESULTS_QUEUE = 'emr.order-results';

/** Statuses an order moves through as its results arrive; it never moves back. */
const STATUS_RANK: Partial<Record<ServiceRequest['status'], number>> = {
  draft: 0,
  'on-hold': 0,
  active: 1,
  completed: 2,
};

/** The order's status once `result` is applied: forward only, and never out of revoked or entered-in-error. */
export function orderStatusAfter(
  current: ServiceRequest['status'],
  result: OrderResultPayload['orderStatus'],
): ServiceRequest['status'] {
  const from = STATUS_RANK[current];
  if (from === undefined) return current;
  return (STATUS_RANK[result] ?? 0) > from ? result : current;
}

/**
 * A department's results for an order, in the inbox's local transaction: the DiagnosticReport and
 * Observations of the laboratory, or the ImagingStudy of the archive, kept in the chart under the
 * department's ids with the Endpoints they name (a corrected result is a new version, a repeated one
 * writes nothing), and the order's
 * status moved forward. Results for an order the EMR does not hold, or about another patient, can never
 * apply: they are dead-lettered with the reason.
 */
@Injectable()
export class OrderResultsHandler implements MessageHandler<Session> {
  constructor(
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(FhirValidator) private readonly validator: FhirValidator,
  ) {}

  async handle(session: Session, message: InboundMessage): Promise<void> {
    // A malformed payload is a FhirException (invalid): dead-lettered with its reason.
    const result = parseOrderResultPayload(this.validator, message.payload);
    const order = await this.orderOf(session, result);
    await this.store.upsertCopies(session, [...(result.endpoints ?? []), ...result.resources]);
    const status = orderStatusAfter(order.status, result.orderStatus);
    if (status !== order.status) await this.store.update(session, { ...order, status });
  }

  private async orderOf(session: Session, result: OrderResultPayload): Promise<ServiceRequest> {
    const reference = `ServiceRequest/${result.serviceRequestId}`;
    if (!(DEPARTMENTS as readonly string[]).includes(result.department))
      throw new RejectedMessageError(
        `results for ${reference} from ${result.department}, which the EMR sends no orders`,
      );
    const order = await this.store
      .read<ServiceRequest>(session, 'ServiceRequest', result.serviceRequestId)
      .catch((error: unknown) => {
        const code = error instanceof FhirException ? error.code : undefined;
        if (code !== FhirErrorCode.NotFound && code !== FhirErrorCode.Gone) throw error;
        throw new RejectedMessageError(
          `${result.department} sent results for ${reference}, which the EMR does not hold`,
        );
      });
    if (patientIdOf(order.subject) !== result.patientId)
      throw new RejectedMessageError(
        `${result.department} sent results for ${reference} about another patient`,
      );
    return order;
  }
}

/** The EMR's consumer of the results of the departments it routes orders to. */
export const orderResultsConsumer: ConsumerDefinition = {
  queue: ORDER_RESULTS_QUEUE,
  bindings: DEPARTMENTS.map((department) => ({
    exchange: ORDER_RESULTS_EXCHANGE,
    routingKey: department,
  })),
  handler: OrderResultsHandler,
};
