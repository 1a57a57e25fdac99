/** Result status codes of HL7 table 0085 (OBX-11) and 0123 (OBR-25) the LIS takes, as FHIR statuses. */
export const RESULT_STATUS = { F: 'final', P: 'preliminary', C: 'corrected' } as const;
export type ResultStatusCode = keyof typeof RESULT_STATUS;

/** Abnormal flags of HL7 table 0078 (OBX-8) the LIS takes (v3 ObservationInterpretation has the same codes). */
export const ABNORMAL_FLAGS = ['L', 'H', 'LL', 'HH', 'N', 'A', 'AA', '<', '>'] as const;
export type AbnormalFlag = (typeof ABNORMAL_FLAGS)[number];

/** A coded element (CE/CWE): code, text, coding system name. */
export interface CodedElement {
  code: string;
  display?: string;
  system?: string;
}

/** One analyte of an ORU^R01 (an OBX), as read and checked. */
export interface LabObservation {
  /** OBX-1, or its position when absent. */
  setId: number;
  /** OBX-3: a LOINC code. */
  code: CodedElement;
  /** OBX-2 NM with OBX-5 a number; ST / TX with OBX-5 text. */
  value: { kind: 'quantity'; value: number; unit?: CodedElement } | { kind: 'string'; value: string };
  /** OBX-7: `low-high`, `<high`, `>low`, or text. */
  referenceRange?: { low?: number; high?: number; text?: string };
  interpretation?: AbnormalFlag;
  status: ResultStatusCode;
  /** OBX-14, or the OBR's time. */
  observedAt?: string;
}

/** An analyzer's result for one order, as read from an ORU^R01 that passed every check. */
export interface LabResult {
  /** MSH-3 and MSH-4: who sent it (the inbox key's first part, the audit record's agent). */
  sendingApplication: string;
  sendingFacility: string;
  /** MSH-10. */
  controlId: string;
  /** OBR-2: the LIS's order number, the id of its ServiceRequest. */
  placerOrderNumber: string;
  /** OBR-3, when the analyzer numbers its work. */
  fillerOrderNumber?: string;
  /** OBR-4: the panel (LOINC). */
  service: CodedElement;
  /** OBR-25. */
  status: ResultStatusCode;
  /** OBR-7, as an ISO instant. */
  observedAt?: string;
  /** OBR-22 or MSH-7, as an ISO instant. */
  reportedAt: string;
  observations: LabObservation[];
}
