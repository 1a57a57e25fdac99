import type { DiagnosticReport, ImagingStudy, Observation, ServiceRequest } from '@medplum/fhirtypes';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException } from '../errors/fhir-exception';
import { FhirValidator } from '../validation/fhir-validator';
import { patientIdOf } from './record-sync.contract';

/**
 * The order-results contract between a department system (the LIS, the PACS) and the clinical record that
 * ordered. When a result arrives for an order the EMR routed to it (an analyzer's ORU^R01, a study stored
 * for an accession number), the department keeps it and, in the same local transaction, appends one event
 * to its outbox; the EMR applies it once through its inbox, keeping copies under the department's ids and
 * moving the order's status. Ids are the department's own and stable, so a repeated event overwrites.
 */

/** The exchange departments publish results to (routing key: the department's name). */
export const ORDER_RESULTS_EXCHANGE = 'orders.results';
/** The message type of a result event. */
export const ORDER_RESULT_TYPE = 'order.result';
/** The queue the EMR consumes results from. */
export const ORDER_RESULTS_QUEUE = 'emr.order-results';

/** The departments that send results, as the routing key of their events. */
export const RESULT_DEPARTMENTS = ['lis', 'pacs'] as const;
export type ResultDepartment = (typeof RESULT_DEPARTMENTS)[number];

/** The resources a result event may carry. */
export type OrderResultResource = DiagnosticReport | Observation | ImagingStudy;
const RESULT_RESOURCE_TYPES: readonly OrderResultResource['resourceType'][] = [
  'DiagnosticReport',
  'Observation',
  'ImagingStudy',
];

/** At most this many resources in one result event (a panel's observations and its report). */
export const MAX_RESULT_RESOURCES = 200;

export interface OrderResultPayload {
  department: ResultDepartment;
  /** The EMR's id of the order (`ServiceRequest/<id>`), which the department keeps a copy of. */
  serviceRequestId: string;
  patientId: string;
  /** The order's status once this result is applied: `completed` for a final result. */
  orderStatus: Extract<ServiceRequest['status'], 'active' | 'completed'>;
  /** The results, each with its id, about `Patient/<patientId>` and `basedOn` the order. */
  resources: OrderResultResource[];
}

/** The outbox aggregate of a result event: the order, so results of one order arrive in order. */
export function orderResultAggregate(serviceRequestId: string): string {
  return `ServiceRequest/${serviceRequestId}`;
}

function rejectResult(message: string): never {
  throw new FhirException(FhirErrorCode.Invalid, `order-result payload: ${message}`);
}

function subjectOf(resource: OrderResultResource): string | undefined {
  return patientIdOf(resource.subject);
}

function basedOnOrder(resource: OrderResultResource, serviceRequestId: string): boolean {
  return (resource.basedOn ?? []).some((r) => r.reference === `ServiceRequest/${serviceRequestId}`);
}

/**
 * Validates a result event as strictly as a FHIR request body: each resource against FHIR R4, with an id,
 * about the event's patient and based on its order. Throws a FhirException otherwise.
 */
export function parseOrderResultPayload(validator: FhirValidator, payload: unknown): OrderResultPayload {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    rejectResult('not an object');
  const { department, serviceRequestId, patientId, orderStatus, resources } = payload as Record<
    string,
    unknown
  >;
  if (!RESULT_DEPARTMENTS.includes(department as ResultDepartment)) rejectResult('unknown department');
  if (typeof serviceRequestId !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(serviceRequestId))
    rejectResult('serviceRequestId is not a FHIR id');
  if (typeof patientId !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(patientId))
    rejectResult('patientId is not a FHIR id');
  if (orderStatus !== 'active' && orderStatus !== 'completed')
    rejectResult('orderStatus is not active or completed');
  if (!Array.isArray(resources) || resources.length === 0 || resources.length > MAX_RESULT_RESOURCES)
    rejectResult(`resources must hold 1 to ${MAX_RESULT_RESOURCES} resources`);
  const parsed = resources.map((resource: unknown) => {
    const type = (resource as { resourceType?: unknown } | null)?.resourceType;
    if (!RESULT_RESOURCE_TYPES.includes(type as OrderResultResource['resourceType']))
      rejectResult('a resource is not a DiagnosticReport, Observation or ImagingStudy');
    return validator.validate<OrderResultResource>(resource, type as string);
  });
  for (const resource of parsed) {
    if (!resource.id) rejectResult(`a ${resource.resourceType} has no id`);
    if (subjectOf(resource) !== patientId)
      rejectResult(`a ${resource.resourceType} is about another patient`);
    if (!basedOnOrder(resource, serviceRequestId))
      rejectResult(`a ${resource.resourceType} is not based on ServiceRequest/${serviceRequestId}`);
  }
  return {
    department: department as ResultDepartment,
    serviceRequestId,
    patientId,
    orderStatus,
    resources: parsed,
  };
}
