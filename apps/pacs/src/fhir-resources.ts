import { recordSearch } from '@hospital/fhir';

/**
 * The FHIR resource types the pacs serves at /fhir, with their search parameters (also used by its seeds):
 * the record copies, the ImagingStudy of each stored study (by patient, subject, the order it is based on,
 * its study UID or accession number) and the archive's DICOMweb Endpoint.
 */
export const PACS_RESOURCES = {
  ...recordSearch('Patient', 'ServiceRequest'),
  ImagingStudy: ['_id', 'patient', 'subject', 'basedon', 'identifier', 'status'],
  Endpoint: ['_id', 'identifier', 'status', 'connection-type'],
};
