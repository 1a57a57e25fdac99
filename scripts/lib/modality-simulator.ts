// An imaging modality (a CT or X-ray console) for tests, the demo, the bench and fault runs: it asks the
// archive for its worklist by DICOM C-FIND (dcmtk's `findscu -W`, a real DIMSE client, each response
// extracted to a file with `-X` and read with dcmjs), acquires a small valid study for each entry (one
// series, one or two 8×8 images built with dcmjs, carrying the entry's patient, accession number and
// StudyInstanceUID) and stores it with STOW-RS (multipart/related; type="application/dicom") over HTTP.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { data, type NaturalDataset } from 'dcmjs';
import { request } from 'undici';

const run = promisify(execFile);

/** Secondary Capture Image Storage: the simplest image SOP class any archive accepts. */
const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** One worklist entry as the modality received it. */
export interface WorklistItem {
  accessionNumber: string;
  studyInstanceUid: string;
  patientId: string;
  patientName: string;
  patientBirthDate?: string;
  patientSex?: string;
  modality: string;
  scheduledStationAeTitle?: string;
  procedureDescription?: string;
}

export interface ModalitySimulatorOptions {
  /** The archive's HTTP base (`http://127.0.0.1:8042`); STOW-RS goes to `<base>/dicom-web/studies`. */
  orthancUrl: string;
  /** The archive's DICOM host and port for C-FIND. */
  dicomHost?: string;
  dicomPort: number;
  /** The archive's AE title (called) and this modality's (calling, and the station the worklist names). */
  calledAeTitle?: string;
  aeTitle?: string;
  /** Images per study (1 or 2). */
  imagesPerStudy?: 1 | 2;
}

function uid(): string {
  return `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`)}`;
}

function text(value: unknown): string | undefined {
  const first: unknown = Array.isArray(value) ? value[0] : value;
  if (first && typeof first === 'object' && 'Alphabetic' in first) return String(first.Alphabetic);
  return typeof first === 'string' || typeof first === 'number' ? String(first) || undefined : undefined;
}

/** A C-FIND response dataset as a worklist item; undefined without an accession number or study UID. */
export function worklistItemOf(dataset: NaturalDataset): WorklistItem | undefined {
  const step = (
    Array.isArray(dataset.ScheduledProcedureStepSequence)
      ? dataset.ScheduledProcedureStepSequence[0]
      : dataset.ScheduledProcedureStepSequence
  ) as NaturalDataset | undefined;
  const accessionNumber = text(dataset.AccessionNumber);
  const studyInstanceUid = text(dataset.StudyInstanceUID);
  if (!accessionNumber || !studyInstanceUid) return undefined;
  return {
    accessionNumber,
    studyInstanceUid,
    patientId: text(dataset.PatientID) ?? '',
    patientName: text(dataset.PatientName) ?? '',
    patientBirthDate: text(dataset.PatientBirthDate),
    patientSex: text(dataset.PatientSex),
    modality: text(step?.Modality) ?? 'OT',
    scheduledStationAeTitle: text(step?.ScheduledStationAETitle),
    procedureDescription: text(dataset.RequestedProcedureDescription),
  };
}

function part10(meta: NaturalDataset, dataset: NaturalDataset): Buffer {
  const file = new data.DicomDict(
    data.DicomMetaDictionary.denaturalizeDataset({
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
      TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
      ImplementationClassUID: '2.25.80302813137786398554742050926734630922',
      ...meta,
    }),
  );
  file.dict = data.DicomMetaDictionary.denaturalizeDataset(dataset);
  return Buffer.from(file.write());
}

/** One image of `item`'s study as a DICOM Part 10 file: an 8×8 16-bit monochrome gradient. */
export function imageFile(item: WorklistItem, seriesUid: string, number: number, acquired: Date): Buffer {
  const sopInstanceUid = uid();
  const pixels = new Uint16Array(64).map((_, i) => (i * 64 + number * 7) % 4096);
  const date = acquired.toISOString().slice(0, 10).replace(/-/g, '');
  const time = acquired.toISOString().slice(11, 19).replace(/:/g, '');
  return part10(
    { MediaStorageSOPClassUID: SECONDARY_CAPTURE, MediaStorageSOPInstanceUID: sopInstanceUid },
    {
      SpecificCharacterSet: 'ISO_IR 192',
      SOPClassUID: SECONDARY_CAPTURE,
      SOPInstanceUID: sopInstanceUid,
      StudyDate: date,
      StudyTime: time,
      AccessionNumber: item.accessionNumber,
      Modality: item.modality,
      ConversionType: 'WSD',
      StudyDescription: item.procedureDescription ?? 'Imaging study',
      PatientName: item.patientName,
      PatientID: item.patientId,
      ...(item.patientBirthDate ? { PatientBirthDate: item.patientBirthDate } : {}),
      ...(item.patientSex ? { PatientSex: item.patientSex } : {}),
      StudyInstanceUID: item.studyInstanceUid,
      SeriesInstanceUID: seriesUid,
      StudyID: item.accessionNumber.slice(0, 16),
      SeriesNumber: '1',
      InstanceNumber: String(number),
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      Rows: 8,
      Columns: 8,
      BitsAllocated: 16,
      BitsStored: 12,
      HighBit: 11,
      PixelRepresentation: 0,
      PixelData: [pixels.buffer],
      _vrMap: { PixelData: 'OW' },
    },
  );
}

/** A STOW-RS body: each file one `application/dicom` part. */
export function stowBody(files: readonly Buffer[], boundary: string): Buffer {
  const parts = files.flatMap((file) => [
    Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
    file,
    Buffer.from('\r\n'),
  ]);
  return Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);
}

/** The simulated modality: worklist query, acquisition and storage, with counts of what it stored. */
export class ModalitySimulator {
  /** Accession numbers whose study this modality stored (a worklist entry is acquired once). */
  readonly acquired = new Set<string>();
  studiesStored = 0;
  instancesStored = 0;

  constructor(private readonly options: ModalitySimulatorOptions) {}

  /** The worklist the archive serves this modality, by C-FIND over DICOM. */
  async queryWorklist(): Promise<WorklistItem[]> {
    const dir = await mkdtemp(join(tmpdir(), 'modality-'));
    try {
      const query = part10(
        {
          MediaStorageSOPClassUID: '1.2.840.10008.5.1.4.31',
          MediaStorageSOPInstanceUID: uid(),
        },
        {
          AccessionNumber: '',
          PatientName: '',
          PatientID: '',
          PatientBirthDate: '',
          PatientSex: '',
          StudyInstanceUID: '',
          RequestedProcedureDescription: '',
          ScheduledProcedureStepSequence: [
            { Modality: '', ScheduledStationAETitle: '', ScheduledProcedureStepStartDate: '' },
          ],
        },
      );
      await writeFile(join(dir, 'query.dcm'), query);
      const { calledAeTitle = 'ORTHANC', aeTitle = 'MODALITY1', dicomHost = '127.0.0.1' } = this.options;
      await run('findscu', [
        '-W',
        '-X',
        '-od',
        dir,
        '-aet',
        aeTitle,
        '-aec',
        calledAeTitle,
        dicomHost,
        String(this.options.dicomPort),
        join(dir, 'query.dcm'),
      ]);
      const responses = (await readdir(dir)).filter((f) => f.startsWith('rsp')).sort();
      const items: WorklistItem[] = [];
      for (const file of responses) {
        const bytes = await readFile(join(dir, file));
        const parsed = data.DicomMessage.readFile(
          bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
        );
        const item = worklistItemOf(data.DicomMetaDictionary.naturalizeDataset(parsed.dict));
        if (item) items.push(item);
      }
      return items;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Acquires `item`'s study (one series) and stores it by STOW-RS; returns the StudyInstanceUID. */
  async storeStudy(item: WorklistItem): Promise<string> {
    const seriesUid = uid();
    const count = this.options.imagesPerStudy ?? 2;
    const now = new Date();
    const files = Array.from({ length: count }, (_, i) => imageFile(item, seriesUid, i + 1, now));
    const boundary = `hospital-${randomBytes(8).toString('hex')}`;
    const response = await request(`${this.options.orthancUrl}/dicom-web/studies`, {
      method: 'POST',
      headers: {
        'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        accept: 'application/dicom+json',
      },
      body: stowBody(files, boundary),
    });
    const answer = await response.body.text();
    if (response.statusCode !== 200) {
      throw new Error(`STOW-RS answered ${response.statusCode}: ${answer.slice(0, 200)}`);
    }
    this.studiesStored += 1;
    this.instancesStored += count;
    return item.studyInstanceUid;
  }

  /** One round at the console: each worklist entry not acquired yet is acquired and stored. */
  async runOnce(): Promise<{ stored: number; worklist: number }> {
    const worklist = await this.queryWorklist();
    let stored = 0;
    for (const item of worklist) {
      if (this.acquired.has(item.accessionNumber)) continue;
      await this.storeStudy(item);
      this.acquired.add(item.accessionNumber);
      stored += 1;
    }
    return { stored, worklist: worklist.length };
  }
}
