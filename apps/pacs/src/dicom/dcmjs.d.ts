/** The part of dcmjs (no published types) the PACS and its modality simulator use. */
declare module 'dcmjs' {
  /** A dataset with keyword names (`PatientName`), as dcmjs naturalizes it. */
  export type NaturalDataset = Record<string, unknown>;
  /** A dataset keyed by tag (`00100010`), each element `{ vr, Value }`. */
  export type DicomDataset = Record<string, { vr: string; Value?: unknown[]; InlineBinary?: string }>;

  export namespace data {
    class DicomDict {
      constructor(meta: DicomDataset);
      meta: DicomDataset;
      dict: DicomDataset;
      write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
    }
    class DicomMessage {
      static readFile(buffer: ArrayBufferLike, options?: Record<string, unknown>): DicomDict;
    }
    const DicomMetaDictionary: {
      naturalizeDataset(dataset: DicomDataset): NaturalDataset;
      denaturalizeDataset(dataset: NaturalDataset): DicomDataset;
      uid(): string;
    };
  }
}
