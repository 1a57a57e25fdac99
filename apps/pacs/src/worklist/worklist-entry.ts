import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { accessionNumberOf, studyInstanceUidOf } from '../dicom/dicom-identifiers';

/** One scheduled imaging procedure as a modality sees it in its worklist. */
export interface WorklistEntry {
  accessionNumber: string;
  /** Assigned in advance, so the study the modality acquires carries it. */
  studyInstanceUid: string;
  /** The EMR's order id: the requested procedure's id in DICOM. */
  requestedProcedureId: string;
  requestedProcedureDescription: string;
  /** DICOM modality code (CT, MR, DX…). */
  modality: string;
  /** The AE title of the modality the step is scheduled on. */
  scheduledStationAeTitle: string;
  scheduledStart: Date;
  patient: { id: string; name: string; birthDate?: string; sex?: 'M' | 'F' | 'O' };
}

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
/** The modality an order's procedure name starts with (LOINC imaging names do: "XR Chest 2 Views"). */
const MODALITY_BY_PREFIX: Record<string, string> = {
  XR: 'DX',
  CT: 'CT',
  MR: 'MR',
  US: 'US',
  NM: 'NM',
  MG: 'MG',
  PT: 'PT',
  RF: 'RF',
};

/** The DICOM modality of an imaging order: a DCM coding when the order has one, else from its name; OT otherwise. */
export function modalityOf(order: ServiceRequest): string {
  const codings = [
    ...(order.code?.coding ?? []),
    ...(order.orderDetail ?? []).flatMap((c) => c.coding ?? []),
  ];
  const dcm = codings.find((c) => c.system === DCM && /^[A-Z]{2}$/.test(c.code ?? ''));
  if (dcm?.code) return dcm.code;
  const name = order.code?.text ?? order.code?.coding?.[0]?.display ?? '';
  return MODALITY_BY_PREFIX[name.slice(0, 2).toUpperCase()] ?? 'OT';
}

function personName(patient: Patient): string {
  const name = patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0];
  const clean = (s: string | undefined) => (s ?? '').replace(/[\^=\\]/g, ' ').trim();
  return [clean(name?.family), clean(name?.given?.join(' '))].join('^').replace(/\^$/, '');
}

const SEX: Record<string, 'M' | 'F' | 'O'> = { male: 'M', female: 'F', other: 'O' };

/**
 * The worklist entry of an imaging order for a patient: ids derived from the order's id, the procedure from
 * its code, scheduled at its occurrence time (else `fallbackStart`, when the PACS took the order).
 */
export function worklistEntryOf(
  patient: Patient,
  order: ServiceRequest,
  scheduledStationAeTitle: string,
  fallbackStart: Date,
): WorklistEntry {
  const orderId = order.id ?? '';
  const start = order.occurrenceDateTime ?? order.occurrencePeriod?.start;
  return {
    accessionNumber: accessionNumberOf(orderId),
    studyInstanceUid: studyInstanceUidOf(orderId),
    requestedProcedureId: orderId.slice(0, 16),
    requestedProcedureDescription: (
      order.code?.text ??
      order.code?.coding?.[0]?.display ??
      'Imaging procedure'
    ).slice(0, 64),
    modality: modalityOf(order),
    scheduledStationAeTitle,
    scheduledStart: start ? new Date(start) : fallbackStart,
    patient: {
      id: patient.id ?? '',
      name: personName(patient),
      birthDate: patient.birthDate,
      sex: patient.gender ? SEX[patient.gender] : undefined,
    },
  };
}
