import { data, type NaturalDataset } from 'dcmjs';
import type { WorklistEntry } from './worklist-entry';

/** Modality Worklist Information Model – FIND: the SOP class a worklist file stands for. */
const WORKLIST_SOP_CLASS = '1.2.840.10008.5.1.4.31';
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** A date as DICOM DA (`YYYYMMDD`), in UTC. */
export function dicomDate(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, '');
}

/** A time as DICOM TM (`HHMMSS`), in UTC. */
export function dicomTime(date: Date): string {
  return date.toISOString().slice(11, 19).replace(/:/g, '');
}

/** The worklist entry as a naturalized DICOM dataset (keywords as dcmjs names them). */
export function worklistDataset(entry: WorklistEntry): NaturalDataset {
  const { patient } = entry;
  return {
    SpecificCharacterSet: 'ISO_IR 192',
    AccessionNumber: entry.accessionNumber,
    PatientName: patient.name,
    PatientID: patient.id,
    ...(patient.birthDate ? { PatientBirthDate: patient.birthDate.replace(/-/g, '').slice(0, 8) } : {}),
    ...(patient.sex ? { PatientSex: patient.sex } : {}),
    StudyInstanceUID: entry.studyInstanceUid,
    RequestedProcedureID: entry.requestedProcedureId,
    RequestedProcedureDescription: entry.requestedProcedureDescription,
    ScheduledProcedureStepSequence: [
      {
        Modality: entry.modality,
        ScheduledStationAETitle: entry.scheduledStationAeTitle,
        ScheduledProcedureStepStartDate: dicomDate(entry.scheduledStart),
        ScheduledProcedureStepStartTime: dicomTime(entry.scheduledStart),
        ScheduledProcedureStepID: entry.accessionNumber,
        ScheduledProcedureStepDescription: entry.requestedProcedureDescription,
      },
    ],
  };
}

/**
 * The worklist entry as a DICOM Part 10 file (the `.wl` files Orthanc's ModalityWorklists plugin serves):
 * the same bytes for the same entry, so rewriting it is harmless.
 */
export function worklistFile(entry: WorklistEntry): Buffer {
  const meta = data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: WORKLIST_SOP_CLASS,
    MediaStorageSOPInstanceUID: entry.studyInstanceUid,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: '2.25.80302813137786398554742050926734630921',
    ImplementationVersionName: 'HOSPITAL-PACS',
  });
  const file = new data.DicomDict(meta);
  file.dict = data.DicomMetaDictionary.denaturalizeDataset(worklistDataset(entry));
  return Buffer.from(file.write());
}
