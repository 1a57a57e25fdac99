import { Inject, Injectable } from '@nestjs/common';
import type { Encounter, ServiceRequest } from '@medplum/fhirtypes';
import { FhirResourceStore, referencedId } from '@hospital/fhir';
import type { SqlExecutor } from '@hospital/platform';
import { isVirtualClass } from './consult-codes';
import { ConsultsErrorCode, ConsultsException } from './consults.exception';

/** Request states a consult request may be created in: the rest are reached by the workflow. */
const NEW_REQUEST_STATUS: readonly string[] = ['draft', 'active', 'on-hold'];
/** Session states a virtual session may be created in. */
const NEW_SESSION_STATUS: readonly string[] = ['planned', 'arrived', 'triaged', 'in-progress'];

function invalid(message: string, expression: string): ConsultsException {
  return new ConsultsException(ConsultsErrorCode.InvalidConsult, message, [expression]);
}

/**
 * The rules of consult requests and virtual sessions, checked before anything is written (400 with an
 * OperationOutcome, or 422 when a referenced resource is not here). A consult request is about a patient,
 * requested by a referring site (`Organization`) and performed, if named, by an expert (`Practitioner`),
 * both from telemedicine's directory; a virtual session is of class VR, `basedOn` exactly one consult
 * request of the same patient.
 */
@Injectable()
export class ConsultRequestRules {
  constructor(@Inject(FhirResourceStore) private readonly store: FhirResourceStore) {}

  async checkRequest(exec: SqlExecutor, sr: ServiceRequest): Promise<void> {
    if (!NEW_REQUEST_STATUS.includes(sr.status))
      throw invalid(
        `A consult request is created as ${NEW_REQUEST_STATUS.join(', ')}`,
        'ServiceRequest.status',
      );
    if (referencedId(sr.subject, 'Patient') === undefined)
      throw invalid('A consult request is about a Patient', 'ServiceRequest.subject');
    if (referencedId(sr.requester, 'Organization') === undefined)
      throw invalid(
        'A consult request is requested by the referring site, an Organization',
        'ServiceRequest.requester',
      );
    const performers = sr.performer ?? [];
    if (performers.length > 1 || performers.some((p) => referencedId(p, 'Practitioner') === undefined))
      throw invalid(
        'A consult request is performed by one expert, a Practitioner',
        'ServiceRequest.performer',
      );
    await this.store.assertReferencesExist(exec, sr, ['Organization', 'Practitioner']);
  }

  async checkSession(exec: SqlExecutor, encounter: Encounter): Promise<void> {
    if (!isVirtualClass(encounter.class))
      throw invalid('A virtual session is of class VR (v3-ActCode)', 'Encounter.class');
    if (!NEW_SESSION_STATUS.includes(encounter.status))
      throw invalid(`A virtual session is created as ${NEW_SESSION_STATUS.join(', ')}`, 'Encounter.status');
    const requests = (encounter.basedOn ?? []).map((b) => referencedId(b, 'ServiceRequest'));
    const requestId = requests[0];
    if (requests.length !== 1 || requestId === undefined)
      throw invalid('A virtual session is based on exactly one consult request', 'Encounter.basedOn');
    await this.store.assertReferencesExist(exec, encounter, [
      'ServiceRequest',
      'Practitioner',
      'Organization',
    ]);
    const request = await this.store.read<ServiceRequest>(exec, 'ServiceRequest', requestId);
    if (referencedId(encounter.subject, 'Patient') !== referencedId(request.subject, 'Patient'))
      throw invalid('A virtual session is about the patient of its consult request', 'Encounter.subject');
  }
}
