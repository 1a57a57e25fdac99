import { data } from 'dcmjs';
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import {
  accessionNumberOf,
  isAccessionNumber,
  isDicomUid,
  studyInstanceUidOf,
} from '../dicom/dicom-identifiers';
import { worklistDataset, worklistFile } from './worklist-dataset';
import { modalityOf, worklistEntryOf } from './worklist-entry';

const patient: Patient = {
  resourceType: 'Patient',
  id: 'pat-1',
  name: [{ family: 'Synthetic^Odd', given: ['Test', 'Second'] }],
  gender: 'male',
  birthDate: '1970-03-09',
};
const order: ServiceRequest = {
  resourceType: 'ServiceRequest',
  id: 'order-1',
  status: 'active',
  intent: 'order',
  subject: { reference: 'Patient/pat-1' },
  code: { coding: [{ system: 'http://loinc.org', code: '36643-5', display: 'XR Chest 2 Views' }] },
  occurrenceDateTime: '2026-12-07T08:30:00Z',
};

describe('worklist entry and its DICOM dataset', () => {
  it('derives the accession number and study UID from the order id alone, within DICOM limits', () => {
    expect(accessionNumberOf('order-1')).toBe(accessionNumberOf('order-1'));
    expect(accessionNumberOf('order-1')).not.toBe(accessionNumberOf('order-2'));
    expect(isAccessionNumber(accessionNumberOf('order-1'))).toBe(true);
    expect(accessionNumberOf('order-1')).toHaveLength(16);
    const uid = studyInstanceUidOf('x'.repeat(64));
    expect(isDicomUid(uid)).toBe(true);
    expect(uid.startsWith('2.25.')).toBe(true);
  });

  it('builds the entry from the patient and the order', () => {
    const entry = worklistEntryOf(patient, order, 'CT1', new Date('2026-01-01T00:00:00Z'));
    expect(entry).toEqual({
      accessionNumber: accessionNumberOf('order-1'),
      studyInstanceUid: studyInstanceUidOf('order-1'),
      requestedProcedureId: 'order-1',
      requestedProcedureDescription: 'XR Chest 2 Views',
      modality: 'DX',
      scheduledStationAeTitle: 'CT1',
      scheduledStart: new Date('2026-12-07T08:30:00Z'),
      // A caret in a name part would split it: it is replaced, parts are joined the DICOM way.
      patient: { id: 'pat-1', name: 'Synthetic Odd^Test Second', birthDate: '1970-03-09', sex: 'M' },
    });
  });

  it('takes the modality from a DCM coding first, then the procedure name, else OT', () => {
    const dcm = { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'MR' };
    expect(modalityOf({ ...order, code: { coding: [...order.code!.coding!, dcm] } })).toBe('MR');
    expect(modalityOf({ ...order, code: { text: 'CT Head without contrast' } })).toBe('CT');
    expect(modalityOf({ ...order, code: { text: 'Bone density' } })).toBe('OT');
  });

  it('writes a Part 10 worklist file that reads back with every attribute the modality needs', () => {
    const entry = worklistEntryOf(patient, order, 'CT1', new Date());
    const bytes = worklistFile(entry);
    expect(worklistFile(entry).equals(bytes)).toBe(true);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const read = data.DicomMessage.readFile(buffer);
    const meta = data.DicomMetaDictionary.naturalizeDataset(read.meta);
    expect(meta.MediaStorageSOPClassUID).toBe('1.2.840.10008.5.1.4.31');
    const dataset = data.DicomMetaDictionary.naturalizeDataset(read.dict);
    expect(dataset).toMatchObject({
      AccessionNumber: entry.accessionNumber,
      PatientID: 'pat-1',
      PatientName: [{ Alphabetic: 'Synthetic Odd^Test Second' }],
      PatientBirthDate: '19700309',
      PatientSex: 'M',
      StudyInstanceUID: entry.studyInstanceUid,
      RequestedProcedureID: 'order-1',
      RequestedProcedureDescription: 'XR Chest 2 Views',
    });
    const [step] = dataset.ScheduledProcedureStepSequence as Record<string, unknown>[];
    expect(step).toMatchObject({
      Modality: 'DX',
      ScheduledStationAETitle: 'CT1',
      ScheduledProcedureStepStartDate: '20261207',
      ScheduledProcedureStepStartTime: '083000',
    });
  });

  it('leaves out birth date and sex the record does not have', () => {
    const entry = worklistEntryOf({ resourceType: 'Patient', id: 'p' }, order, 'CT1', new Date());
    const dataset = worklistDataset(entry);
    expect(dataset).not.toHaveProperty('PatientBirthDate');
    expect(dataset).not.toHaveProperty('PatientSex');
  });
});
