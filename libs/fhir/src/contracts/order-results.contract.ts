import type {
  DiagnosticReport,
  Endpoint,
  ImagingStudy,
  Observation,
  ServiceRequest,
} from '@medplum/fhirtypes';
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

/** The exchange departments publish results to (routing key: the department's service name). */
export const ORDER_RESULTS_EXCHANGE = 'orders.results';
/** The message type of a result event. */
export const ORDER_RESULT_TYPE = 'order.result';

/** A department's service name, as the routing key of its events and the `department` of their payload. */
const DEPARTMENT = /^[a-z][a-z0-9-]{0,62}$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The results a result event may carry, about the patient and based on the order. */
export type OrderResultResource = DiagnosticReport | Observation | ImagingStudy;
const RESULT_RESOURCE_TYPES: readonly OrderResultResource['resourceType'][] = [
  'DiagnosticReport',
  'Observation',
  'ImagingStudy',
];

/** At most this many resources in one result event (a panel's observations and its report). */
export const MAX_RESULT_RESOURCES = 200;

export interface OrderResultPayload {
  /** The department's service name (also the event's routing key). */
  department: string;
  /** The EMR's id of the order (`ServiceRequest/<id>`), which the department keeps a copy of. */
  serviceRequestId: string;
  patientId: string;
  /** The order's status once this result is applied: `completed` for a final result. */
  orderStatus: Extract<ServiceRequest['status'], 'active' | 'completed'>;
  /** The results, each with its id, about `Patient/<patientId>` and `basedOn` the order. */
  resources: OrderResultResource[];
  /** Where the results can be fetched from (an ImagingStudy's DICOMweb `endpoint`): no patient data. */
  endpoints?: Endpoint[];
}

/**
 * The outbox aggregate of a result event: the order's results, so the results of one order arrive in
 * order. Not the order itself: a consumer waits for every earlier event of an aggregate, and the
 * department's other events about the order (to its analyzer, its worklist) never reach the EMR.
 */
export function orderResultAggregate(serviceRequestId: string): string {
  return `ServiceRequest/${serviceRequestId}/results`;
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
  const { department, serviceRequestId, patientId, orderStatus, resources, endpoints } = payload as Record<
    string,
    unknown
  >;
  if (typeof department !== 'string' || !DEPARTMENT.test(department))
    rejectResult('department is not a service name');
  if (typeof serviceRequestId !== 'string' || !FHIR_ID.test(serviceRequestId))
    rejectResult('serviceRequestId is not a FHIR id');
  if (typeof patientId !== 'string' || !FHIR_ID.test(patientId)) rejectResult('patientId is not a FHIR id');
  if (orderStatus !== 'active' && orderStatus !== 'completed')
    rejectResult('orderStatus is not active or completed');
  if (!Array.isArray(resources) || resources.length === 0 || resources.length > MAX_RESULT_RESOURCES)
    rejectResult(`resources must hold 1 to ${MAX_RESULT_RESOURCES} resources`);
  if (endpoints !== undefined && (!Array.isArray(endpoints) || endpoints.length > MAX_RESULT_RESOURCES))
    rejectResult(`endpoints must hold at most ${MAX_RESULT_RESOURCES} Endpoints`);
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
  const parsedEndpoints = (endpoints ?? []).map((endpoint: unknown) => {
    const checked = validator.validate<Endpoint>(endpoint, 'Endpoint');
    if (!checked.id) rejectResult('an Endpoint has no id');
    return checked;
  });
  return {
    department,
    serviceRequestId,
    patientId,
    orderStatus,
    resources: parsed,
    ...(parsedEndpoints.length > 0 ? { endpoints: parsedEndpoints } : {}),
  };
}
