import { imagingStudyIdOf } from '../dicom/dicom-identifiers';
import { dicomDateTime, dicomWebEndpoint, imagingStudyOf, studyKeys } from './imaging-study-mapping';
import type { DicomJson } from './orthanc-client';

const tag = (vr: string, ...Value: unknown[]) => ({ vr, Value });
const study: DicomJson = {
  '00080020': tag('DA', '20261206'),
  '00080030': tag('TM', '163351.123'),
  '00080050': tag('SH', 'A8AF82735D5F0A1C'),
  '00080061': tag('CS', 'DX', 'CT'),
  '00081030': tag('LO', 'XR Chest 2 Views'),
  '00100010': tag('PN', { Alphabetic: 'Synthetic^Test' }),
  '00100020': tag('LO', 'pat-1'),
  '0020000D': tag('UI', '2.25.1234'),
  '00201206': tag('IS', 2),
  '00201208': tag('IS', 3),
};
const series: DicomJson[] = [
  {
    '0020000E': tag('UI', '2.25.9'),
    '00080060': tag('CS', 'DX'),
    '00200011': tag('IS', 1),
    '00201209': tag('IS', 2),
  },
  {
    '0020000E': tag('UI', '2.25.8'),
    '00080060': tag('CS', 'CT'),
    '0008103E': tag('LO', 'Scout'),
    '00201209': tag('IS', 1),
  },
];
const endpoint = dicomWebEndpoint('http://archive:8042/dicom-web');

describe('QIDO-RS study to FHIR ImagingStudy', () => {
  it('maps identifiers, counts, modalities, series, subject, order and endpoint', () => {
    const mapped = imagingStudyOf(study, series, {
      serviceRequestId: 'order-1',
      patientId: 'pat-1',
      endpoint,
    });
    expect(mapped).toEqual({
      resourceType: 'ImagingStudy',
      id: imagingStudyIdOf('2.25.1234'),
      identifier: [
        { system: 'urn:dicom:uid', value: 'urn:oid:2.25.1234' },
        {
          type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'ACSN' }] },
          value: 'A8AF82735D5F0A1C',
        },
      ],
      status: 'available',
      modality: [
        { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' },
        { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'DX' },
      ],
      subject: { reference: 'Patient/pat-1' },
      started: '2026-12-06T16:33:51Z',
      basedOn: [{ reference: 'ServiceRequest/order-1' }],
      endpoint: [{ reference: `Endpoint/${endpoint.id}` }],
      numberOfSeries: 2,
      numberOfInstances: 3,
      description: 'XR Chest 2 Views',
      series: [
        {
          uid: '2.25.8',
          modality: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' },
          description: 'Scout',
          numberOfInstances: 1,
        },
        {
          uid: '2.25.9',
          number: 1,
          modality: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'DX' },
          numberOfInstances: 2,
        },
      ],
    });
  });

  it('is the same resource whatever order the archive lists the series in', () => {
    const context = { serviceRequestId: 'order-1', patientId: 'pat-1', endpoint };
    expect(imagingStudyOf(study, [...series].reverse(), context)).toEqual(
      imagingStudyOf(study, series, context),
    );
  });

  it('counts from the series when the study level has no counts', () => {
    const bare: DicomJson = { '0020000D': tag('UI', '2.25.5') };
    const mapped = imagingStudyOf(bare, series, { serviceRequestId: 'o', patientId: 'p', endpoint });
    expect(mapped).toMatchObject({ numberOfSeries: 2, numberOfInstances: 3 });
    expect(mapped.identifier).toHaveLength(1);
    expect(mapped).not.toHaveProperty('started');
  });

  it('refuses a study without a StudyInstanceUID', () => {
    expect(() => imagingStudyOf({}, [], { serviceRequestId: 'o', patientId: 'p', endpoint })).toThrow(
      'StudyInstanceUID',
    );
  });

  it('reads the keys a study is matched by, and DICOM dates', () => {
    expect(studyKeys(study)).toEqual({
      studyInstanceUid: '2.25.1234',
      accessionNumber: 'A8AF82735D5F0A1C',
      patientId: 'pat-1',
    });
    expect(dicomDateTime('20261206', undefined)).toBe('2026-12-06');
    expect(dicomDateTime('20261206', '0830')).toBe('2026-12-06T08:30:00Z');
    expect(dicomDateTime('bad', '0830')).toBeUndefined();
  });

  it('names the archive endpoint by its address, as a WADO-RS endpoint', () => {
    expect(dicomWebEndpoint('http://a/dicom-web').id).toBe(dicomWebEndpoint('http://a/dicom-web').id);
    expect(dicomWebEndpoint('http://a/dicom-web').id).not.toBe(dicomWebEndpoint('http://b/dicom-web').id);
    expect(endpoint).toMatchObject({
      connectionType: { code: 'dicom-wado-rs' },
      address: 'http://archive:8042/dicom-web',
    });
  });
});
