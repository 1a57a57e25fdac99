import { createHash } from 'node:crypto';
import type { Endpoint, ImagingStudy, ImagingStudySeries } from '@medplum/fhirtypes';
import { imagingStudyIdOf } from '../dicom/dicom-identifiers';
import type { DicomJson } from './orthanc-client';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const TAG = {
  studyDate: '00080020',
  studyTime: '00080030',
  accessionNumber: '00080050',
  modality: '00080060',
  modalitiesInStudy: '00080061',
  studyDescription: '00081030',
  seriesDescription: '0008103E',
  patientId: '00100020',
  studyInstanceUid: '0020000D',
  seriesInstanceUid: '0020000E',
  seriesNumber: '00200011',
  numberOfSeries: '00201206',
  numberOfInstances: '00201208',
  numberOfSeriesInstances: '00201209',
} as const;

/** The values of `tag` in a DICOM JSON dataset, as strings (a person name by its alphabetic form). */
export function dicomValues(dataset: DicomJson, tag: string): string[] {
  return (dataset[tag]?.Value ?? []).map((v) =>
    v !== null && typeof v === 'object' && 'Alphabetic' in v ? String(v.Alphabetic) : String(v),
  );
}

/** The first value of `tag`, or undefined. */
export function dicomValue(dataset: DicomJson, tag: string): string | undefined {
  const [first] = dicomValues(dataset, tag);
  return first === '' ? undefined : first;
}

function count(dataset: DicomJson, tag: string): number | undefined {
  const value = Number(dicomValue(dataset, tag));
  return Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** The identifying attributes of a stored study: what the PACS matches it to an order by. */
export function studyKeys(study: DicomJson): {
  studyInstanceUid?: string;
  accessionNumber?: string;
  patientId?: string;
} {
  return {
    studyInstanceUid: dicomValue(study, TAG.studyInstanceUid),
    accessionNumber: dicomValue(study, TAG.accessionNumber),
    patientId: dicomValue(study, TAG.patientId),
  };
}

/** DICOM DA and TM as a FHIR dateTime (UTC, as the modality simulator writes them); undefined without a date. */
export function dicomDateTime(date: string | undefined, time: string | undefined): string | undefined {
  const d = /^(\d{4})(\d{2})(\d{2})$/.exec(date ?? '');
  if (!d) return undefined;
  const t = /^(\d{2})(\d{2})?(\d{2})?/.exec(time ?? '');
  if (!t) return `${d[1]}-${d[2]}-${d[3]}`;
  return `${d[1]}-${d[2]}-${d[3]}T${t[1]}:${t[2] ?? '00'}:${t[3] ?? '00'}Z`;
}

/** The FHIR Endpoint of an archive's DICOMweb base, under an id derived from its address. */
export function dicomWebEndpoint(address: string): Endpoint {
  return {
    resourceType: 'Endpoint',
    id: `dicomweb-${createHash('sha256').update(address).digest('hex').slice(0, 24)}`,
    status: 'active',
    name: 'Imaging archive (DICOMweb WADO-RS)',
    connectionType: {
      system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type',
      code: 'dicom-wado-rs',
    },
    payloadType: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/endpoint-payload-type', code: 'DICOM' }],
      },
    ],
    payloadMimeType: ['application/dicom'],
    address,
  };
}

function seriesOf(series: DicomJson): ImagingStudySeries | undefined {
  const uid = dicomValue(series, TAG.seriesInstanceUid);
  if (uid === undefined) return undefined;
  const number = count(series, TAG.seriesNumber);
  const instances = count(series, TAG.numberOfSeriesInstances);
  const description = dicomValue(series, TAG.seriesDescription);
  return {
    uid,
    ...(number === undefined ? {} : { number }),
    modality: { system: DCM, code: dicomValue(series, TAG.modality) ?? 'OT' },
    ...(description ? { description } : {}),
    ...(instances === undefined ? {} : { numberOfInstances: instances }),
  };
}

/** What ties a stored study to the order it was acquired for. */
export interface StudyContext {
  serviceRequestId: string;
  patientId: string;
  endpoint: Endpoint;
}

/**
 * The FHIR ImagingStudy of a study read over QIDO-RS (study and series level): its id derived from the
 * StudyInstanceUID, identified by that UID and the accession number, with its series and instance counts
 * and modalities, about the order's patient, based on the order, retrievable at the archive's endpoint.
 */
export function imagingStudyOf(study: DicomJson, series: DicomJson[], context: StudyContext): ImagingStudy {
  const { studyInstanceUid, accessionNumber } = studyKeys(study);
  if (studyInstanceUid === undefined) throw new Error('a study without a StudyInstanceUID');
  const seriesList = series.flatMap((s) => seriesOf(s) ?? []).sort((a, b) => a.uid.localeCompare(b.uid));
  const modalities = [
    ...new Set([
      ...dicomValues(study, TAG.modalitiesInStudy),
      ...seriesList.map((s) => s.modality.code ?? ''),
    ]),
  ]
    .filter((m) => m !== '')
    .sort();
  const started = dicomDateTime(dicomValue(study, TAG.studyDate), dicomValue(study, TAG.studyTime));
  const description = dicomValue(study, TAG.studyDescription);
  const numberOfInstances =
    count(study, TAG.numberOfInstances) ?? seriesList.reduce((n, s) => n + (s.numberOfInstances ?? 0), 0);
  return {
    resourceType: 'ImagingStudy',
    id: imagingStudyIdOf(studyInstanceUid),
    identifier: [
      { system: 'urn:dicom:uid', value: `urn:oid:${studyInstanceUid}` },
      ...(accessionNumber
        ? [
            {
              type: {
                coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'ACSN' }],
              },
              value: accessionNumber,
            },
          ]
        : []),
    ],
    status: 'available',
    ...(modalities.length > 0 ? { modality: modalities.map((code) => ({ system: DCM, code })) } : {}),
    subject: { reference: `Patient/${context.patientId}` },
    ...(started ? { started } : {}),
    basedOn: [{ reference: `ServiceRequest/${context.serviceRequestId}` }],
    endpoint: [{ reference: `Endpoint/${context.endpoint.id}` }],
    numberOfSeries: count(study, TAG.numberOfSeries) ?? seriesList.length,
    numberOfInstances,
    ...(description ? { description } : {}),
    ...(seriesList.length > 0 ? { series: seriesList } : {}),
  };
}
