import { IsObject, IsString, Matches } from 'class-validator';
import type { DiagnosticReport, Encounter, ServiceRequest } from '@medplum/fhirtypes';
import {
  FhirErrorCode,
  FhirException,
  FhirResourceStore,
  FhirValidator,
  payloadResource,
  referencedId,
  validatePayloadShape,
  type WithId,
} from '@hospital/fhir';
import type { Session } from '@hospital/platform';
import { isVirtualClass } from './consult-codes';
import { ConsultsErrorCode, ConsultsException } from './consults.exception';

const VERSION = /^[1-9]\d{0,8}$/;

/**
 * Telemedicine's own part of a consult completion: the request completed, its virtual session finished
 * (each as it was read, at the version it was read at) and the expert's findings kept locally.
 */
export class ConsultRecordPayload {
  @IsObject() serviceRequest!: Record<string, unknown>;
  @IsString() @Matches(VERSION) serviceRequestVersion!: string;
  @IsObject() encounter!: Record<string, unknown>;
  @IsString() @Matches(VERSION) encounterVersion!: string;
  @IsObject() diagnosticReport!: Record<string, unknown>;
}

/** A consult record after validation. */
export interface ConsultRecord {
  serviceRequest: WithId<ServiceRequest>;
  serviceRequestVersion: string;
  encounter: WithId<Encounter>;
  encounterVersion: string;
  diagnosticReport: WithId<DiagnosticReport>;
}

const CONTRACT = 'consult-record';

function reject(message: string): never {
  throw new FhirException(FhirErrorCode.Invalid, `${CONTRACT} payload: ${message}`);
}

/**
 * Validates a consult-record payload: the envelope by its class, each resource against FHIR R4 with its
 * id, the request completed, the session a finished virtual session `basedOn` it, the report about the
 * same patient, `basedOn` the request and naming the session. Throws a 400 FhirException otherwise.
 */
export function parseConsultRecordPayload(validator: FhirValidator, payload: unknown): ConsultRecord {
  const shape = validatePayloadShape(CONTRACT, ConsultRecordPayload, payload);
  const serviceRequest = payloadResource<ServiceRequest>(
    validator,
    CONTRACT,
    'serviceRequest',
    shape.serviceRequest,
    'ServiceRequest',
  );
  const encounter = payloadResource<Encounter>(
    validator,
    CONTRACT,
    'encounter',
    shape.encounter,
    'Encounter',
  );
  const report = payloadResource<DiagnosticReport>(
    validator,
    CONTRACT,
    'diagnosticReport',
    shape.diagnosticReport,
    'DiagnosticReport',
  );
  if (serviceRequest.status !== 'completed') reject('serviceRequest.status must be completed');
  if (encounter.status !== 'finished') reject('encounter.status must be finished');
  if (!isVirtualClass(encounter.class)) reject('encounter.class must be VR (virtual)');
  const patientId = referencedId(serviceRequest.subject, 'Patient');
  if (patientId === undefined) reject('serviceRequest.subject must reference a Patient');
  if (referencedId(encounter.subject, 'Patient') !== patientId)
    reject('encounter.subject must be the patient of the request');
  if (referencedId(report.subject, 'Patient') !== patientId)
    reject('diagnosticReport.subject must be the patient of the request');
  const basedOnRequest = (refs: readonly { reference?: string }[] | undefined): boolean =>
    (refs ?? []).some((r) => referencedId(r, 'ServiceRequest') === serviceRequest.id);
  if (!basedOnRequest(encounter.basedOn)) reject('encounter.basedOn must reference the serviceRequest');
  if (!basedOnRequest(report.basedOn)) reject('diagnosticReport.basedOn must reference the serviceRequest');
  if (referencedId(report.encounter, 'Encounter') !== encounter.id)
    reject('diagnosticReport.encounter must reference the encounter');
  return {
    serviceRequest,
    serviceRequestVersion: shape.serviceRequestVersion,
    encounter,
    encounterVersion: shape.encounterVersion,
    diagnosticReport: report,
  };
}

/**
 * Telemedicine's branch of a consult completion, inside the branch's local transaction: keeps the
 * findings (`DiagnosticReport`, under the id the coordinator minted), completes the request and finishes
 * the session, each only if it is still at the version the completion read (else 409: nothing applied).
 * Idempotent: the findings are written in the same transaction as the two updates, so a report already
 * there with the same content means the branch was applied, and applying it again writes nothing.
 */
export class ConsultRecordBranch {
  constructor(
    private readonly store: FhirResourceStore,
    private readonly validator: FhirValidator,
  ) {}

  /** The branch step, in the shape of `BranchWork<Session>`. */
  readonly apply = async (tx: Session, payload: unknown, gtid: string): Promise<void> => {
    const record = parseConsultRecordPayload(this.validator, payload);
    const report = await this.store.createOnce(tx, record.diagnosticReport);
    if (!report.created) return;
    await this.updateAt(tx, record.serviceRequest, record.serviceRequestVersion, gtid);
    await this.updateAt(tx, record.encounter, record.encounterVersion, gtid);
  };

  private async updateAt(
    tx: Session,
    resource: WithId<ServiceRequest> | WithId<Encounter>,
    version: string,
    gtid: string,
  ): Promise<void> {
    try {
      await this.store.update(tx, resource, { ifMatch: version });
    } catch (error) {
      if (error instanceof FhirException && error.code === FhirErrorCode.PreconditionFailed) {
        throw new ConsultsException(
          ConsultsErrorCode.RecordChanged,
          `${resource.resourceType}/${resource.id} changed after consult completion ${gtid} read it at version ${version}`,
        );
      }
      throw error;
    }
  }
}

/** Telemedicine's consult-record branch step (a `BranchWork<Session>`). */
export function consultRecordBranch(
  store: FhirResourceStore,
  validator: FhirValidator,
): (tx: Session, payload: unknown, gtid: string) => Promise<void> {
  return new ConsultRecordBranch(store, validator).apply;
}

/**
 * Nest provider recipe of telemedicine's own branch step in the consult completion:
 * `{ provide: THREE_PHASE_BRANCH_WORK, ...consultRecordBranchProvider }`.
 */
export const consultRecordBranchProvider = {
  inject: [FhirResourceStore, FhirValidator],
  useFactory: consultRecordBranch,
};
