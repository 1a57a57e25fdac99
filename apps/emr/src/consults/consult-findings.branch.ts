import {
  FhirResourceStore,
  FhirValidator,
  parseConsultFindingsPayload,
  type ConsultFindings,
} from '@hospital/fhir';
import type { Session } from '@hospital/platform';
import { ConsultsErrorCode, ConsultsException } from './consults.exception';

/**
 * The EMR's branch of a telemedicine consult completion: validates the findings sent by the consult
 * service (the `DiagnosticReport` and the consult's `Encounter`, see the consult-findings contract) and
 * stores both in the patient's chart inside the branch's local transaction. The patient must already be
 * in the EMR. Idempotent: the resources keep the ids the coordinator minted, and applying the same
 * payload again writes nothing (`FhirResourceStore.createOnce`).
 */
export class ConsultFindingsBranch {
  constructor(
    private readonly store: FhirResourceStore,
    private readonly validator: FhirValidator,
  ) {}

  /** The branch step, in the shape of `BranchWork<Session>`. */
  readonly apply = async (tx: Session, payload: unknown, _gtid: string): Promise<void> => {
    const findings = parseConsultFindingsPayload(this.validator, payload);
    await this.assertPatientKnown(tx, findings);
    await this.store.createOnce(tx, findings.encounter);
    await this.store.createOnce(tx, findings.diagnosticReport);
  };

  private async assertPatientKnown(tx: Session, findings: ConsultFindings): Promise<void> {
    if (await this.store.exists(tx, 'Patient', findings.patientId)) return;
    throw new ConsultsException(
      ConsultsErrorCode.UnknownPatient,
      `Consult findings DiagnosticReport/${findings.diagnosticReport.id} are about Patient/${findings.patientId}, which the EMR does not hold`,
      ['encounter.subject'],
    );
  }
}

/** The EMR's consult-findings branch step (a `BranchWork<Session>`). */
export function consultFindingsBranch(
  store: FhirResourceStore,
  validator: FhirValidator,
): (tx: Session, payload: unknown, gtid: string) => Promise<void> {
  return new ConsultFindingsBranch(store, validator).apply;
}

/**
 * Nest provider recipe of the EMR's branch step in the consult completion:
 * `{ provide: THREE_PHASE_BRANCH_WORK, ...consultFindingsBranchProvider }`.
 */
export const consultFindingsBranchProvider = {
  inject: [FhirResourceStore, FhirValidator],
  useFactory: consultFindingsBranch,
};
