import { RECORD_SEARCH, recordSearch, type SearchDeclaration } from '@hospital/fhir';

/**
 * The FHIR resource types the emr serves at /fhir, with their search parameters (also used by its seeds).
 * Completed telemedicine consults add their virtual Encounter (found by the consult request it was
 * `based-on` and its `class`) and the expert's findings, a read-only DiagnosticReport. The departments'
 * results arrive read-only too: the laboratory's DiagnosticReport and Observations, the archive's
 * ImagingStudy (with the archive's DICOMweb Endpoint), each found by patient and by the order it is `based-on`.
 */
export const EMR_RESOURCES = {
  ...recordSearch('Patient', 'Practitioner', 'ServiceRequest'),
  Encounter: [...RECORD_SEARCH.Encounter, 'based-on', 'class'],
  DiagnosticReport: ['_id', 'subject', 'patient', 'encounter', 'based-on', 'status', 'code', 'category'],
  Observation: ['_id', 'subject', 'patient', 'based-on', 'status', 'code', 'category'],
  ImagingStudy: ['_id', 'subject', 'patient', 'basedon', 'identifier', 'status', 'modality'],
  Endpoint: ['_id', 'status', 'connection-type'],
} as const satisfies SearchDeclaration;
