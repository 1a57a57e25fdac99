import { createHash } from 'node:crypto';

/**
 * The identifiers an imaging order carries into DICOM, derived from the EMR's order id alone so that a
 * repeated record update, a redelivered event or a second PACS replica always arrives at the same ones:
 * the accession number the modality writes into the study, and the StudyInstanceUID assigned in advance.
 */

function digest(purpose: string, value: string): Buffer {
  return createHash('sha256').update(`${purpose}:${value}`).digest();
}

/** The accession number of an order (`ServiceRequest/<id>`): 16 characters, the longest DICOM SH allows. */
export function accessionNumberOf(serviceRequestId: string): string {
  return `A${digest('accession', serviceRequestId).toString('hex').slice(0, 15).toUpperCase()}`;
}

/** The StudyInstanceUID assigned to an order before the modality acquires it: a `2.25.` UUID-derived UID. */
export function studyInstanceUidOf(serviceRequestId: string): string {
  return `2.25.${BigInt(`0x${digest('study', serviceRequestId).subarray(0, 16).toString('hex')}`)}`;
}

/** The FHIR id of the ImagingStudy for a StudyInstanceUID (a stored study, whatever its origin). */
export function imagingStudyIdOf(studyInstanceUid: string): string {
  return `dicom-${digest('imaging-study', studyInstanceUid).toString('hex').slice(0, 32)}`;
}

/** A DICOM UID is digits and dots, at most 64 characters. */
export function isDicomUid(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9]+(\.[0-9]+)*$/.test(value) && value.length <= 64;
}

/** A DICOM accession number as the PACS issues them. */
export function isAccessionNumber(value: unknown): value is string {
  return typeof value === 'string' && /^A[0-9A-F]{15}$/.test(value);
}
