import type { Patient, Reference, ServiceRequest } from '@medplum/fhirtypes';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException } from '../errors/fhir-exception';
import { FhirValidator } from '../validation/fhir-validator';
import { FhirResourceStore } from '../store/fhir-resource-store';
import type { SqlExecutor } from '@hospital/platform';

/**
 * The record-update contract between a clinical record system and the department systems it sends orders
 * to. In one global transaction the record system sends each department the patient's current demographics
 * and the orders routed to it (which department gets which order is the sender's business); the department
 * keeps copies under the sender's ids, so a repeated or recovered delivery overwrites instead of duplicating.
 */
export interface RecordSyncPayload {
  patient: Patient;
  serviceRequests: ServiceRequest[];
}

/** SNOMED CT categories of ServiceRequest (the R4 example value set servicerequest-category). */
export const ORDER_CATEGORY = {
  laboratory: { system: 'http://snomed.info/sct', code: '108252007', display: 'Laboratory procedure' },
  imaging: { system: 'http://snomed.info/sct', code: '363679005', display: 'Imaging' },
} as const;

/** The id in a `Patient/<id>` reference, or undefined for any other reference. */
export function patientIdOf(reference: Reference | undefined): string | undefined {
  const match = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(reference?.reference ?? '');
  return match?.[1];
}

function rejectPayload(message: string): never {
  throw new FhirException(FhirErrorCode.Invalid, `record-sync payload: ${message}`);
}

/**
 * Validates a payload received from the EMR as strictly as a FHIR request body: every resource against
 * FHIR R4, ids present, every order about the payload's patient. Throws a FhirException otherwise.
 */
export function parseRecordSyncPayload(validator: FhirValidator, payload: unknown): RecordSyncPayload {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    rejectPayload('not an object');
  const { patient, serviceRequests } = payload as Record<string, unknown>;
  if (!Array.isArray(serviceRequests)) rejectPayload('serviceRequests must be an array');
  const parsedPatient = validator.validate<Patient>(patient, 'Patient');
  if (!parsedPatient.id) rejectPayload('patient has no id');
  const orders = serviceRequests.map((order: unknown) =>
    validator.validate<ServiceRequest>(order, 'ServiceRequest'),
  );
  for (const order of orders) {
    if (!order.id) rejectPayload('an order has no id');
    if (patientIdOf(order.subject) !== parsedPatient.id) rejectPayload('an order is about another patient');
  }
  return { patient: parsedPatient, serviceRequests: orders };
}

/**
 * A department's side of the contract, as one 2PC branch step: validates what the EMR sent and keeps
 * the copies in the department's FHIR store, inside the branch's transaction.
 */
export function recordSyncBranch(
  store: FhirResourceStore,
  validator: FhirValidator,
): (tx: SqlExecutor, payload: unknown) => Promise<void> {
  return async (tx, payload) => {
    const parsed = parseRecordSyncPayload(validator, payload);
    await store.upsertCopies(tx, [parsed.patient, ...parsed.serviceRequests]);
  };
}

/** Nest provider recipe of the department's branch step: `{ provide: BRANCH_WORK, ...recordSyncBranchProvider }`. */
export const recordSyncBranchProvider = {
  inject: [FhirResourceStore, FhirValidator],
  useFactory: recordSyncBranch,
};
