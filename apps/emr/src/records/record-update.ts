import type { Encounter, Patient, ServiceRequest } from '@medplum/fhirtypes';

/** How a record update touches the patient. */
export type PatientChange =
  | { mode: 'create'; resource: Patient }
  | { mode: 'update'; resource: Patient; ifMatch?: string }
  /** The patient is only referenced: its current demographics travel with the orders. */
  | { mode: 'reference'; resource: Patient };

/**
 * One clinician's record update, validated and with every id assigned: it commits in the EMR, the LIS
 * and the PACS together, or nowhere.
 */
export interface RecordUpdate {
  /** Minted by the EMR, which coordinates the update. */
  gtid: string;
  /** The client's own reference (`x-correlation-id` or `x-gtid`), recorded beside the gtid. */
  correlationId?: string;
  patient: PatientChange;
  encounters: Encounter[];
  orders: ServiceRequest[];
}
